"""trinity_core.heal_html / heal_css from Python: str or bytes in, typed errors out."""

from __future__ import annotations

import pytest

import trinity_core as tc

PAGE = "<!doctype html><html><head><title>t</title></head><body><p>hi</p></body></html>"


def test_heal_html_str_and_bytes_agree_and_are_idempotent() -> None:
    once = tc.heal_html(PAGE)
    assert "<style data-trinity-heal>" in once["html"]
    assert {"rule", "selector", "reason", "added"} <= set(once["fixes"][0])
    assert tc.heal_html(PAGE.encode())["html"] == once["html"]
    assert tc.heal_html(once["html"])["html"] == once["html"]


def test_findings_from_the_guardian_shape() -> None:
    finding = {"selector": ".wide", "cause": "wide_table", "widths": [320, 375], "overflow_px": 120, "edge": "right"}
    out = tc.heal_html(PAGE, {"findings": [finding]})
    fix = next(f for f in out["fixes"] if f["rule"] == "table-scroll")
    assert fix["added"].startswith("@media (max-width:767px){.wide{display:block!important")


def test_heal_css_appends_overrides() -> None:
    out = tc.heal_css(".g{grid-template-columns:1fr 1fr}")
    assert out["css"].startswith(".g{grid-template-columns:1fr 1fr}\n/* trinity-heal */\n")


def test_errors() -> None:
    with pytest.raises(tc.InvalidInputError) as e:
        tc.heal_html(b"<p>\xff</p>")
    assert e.value.code == "invalid_input"
    with pytest.raises(tc.InvalidInputError) as e:
        tc.heal_html("<p>", {"findings": [{"selector": ".a", "cause": "nope", "widths": [320]}]})
    assert e.value.details == {"path": "findings[0].cause"}
    with pytest.raises(tc.InvalidInputError):
        tc.heal_css(42)  # type: ignore[arg-type]
