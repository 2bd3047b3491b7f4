"""trinity_core.heal_html / heal_css from Python: str or bytes in, typed errors out."""

from __future__ import annotations

import pytest

import trinity_core as tc

PAGE = "<!doctype html><html><head><title>t</title></head><body><p>hi</p></body></html>"


def test_heal_html_str_and_bytes_agree_and_are_idempotent() -> None:
    net = {"safety_net": True}
    once = tc.heal_html(PAGE, net)
    assert "<style data-trinity-heal>" in once["html"]
    assert {"rule", "selector", "reason", "added"} <= set(once["fixes"][0])
    assert tc.heal_html(PAGE.encode(), net)["html"] == once["html"]
    assert tc.heal_html(once["html"], net)["html"] == once["html"]


def test_without_findings_nothing_changes() -> None:
    desktop = "<html><head><style>.g{grid-template-columns:1fr 1fr}</style></head><body><pre>x</pre></body></html>"
    for page in (PAGE, desktop):
        assert tc.heal_html(page) == {"html": page, "fixes": []}
        assert tc.heal_html(page, {}) == {"html": page, "fixes": []}
    out = tc.heal_html(desktop, {"viewport": True})
    assert [f["rule"] for f in out["fixes"]] == ["viewport-meta"] and "initial-scale=1" in out["html"]


def test_findings_from_the_guardian_shape() -> None:
    finding = {"selector": ".wide", "cause": "wide_table", "widths": [320, 375], "overflow_px": 120, "edge": "right"}
    out = tc.heal_html(PAGE, {"findings": [finding]})
    fix = next(f for f in out["fixes"] if f["rule"] == "table-scroll")
    assert fix["added"].startswith("@media (max-width:767px){.wide{display:block!important")


def test_heal_css_appends_overrides() -> None:
    assert tc.heal_css(".g{grid-template-columns:1fr 1fr}")["css"] == ".g{grid-template-columns:1fr 1fr}"
    out = tc.heal_css(".g{grid-template-columns:1fr 1fr}", {"grid": True})
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
