"""The guardian in a real Chromium (Debian's `chromium`, installed by `make setup-chromium`).

Every broken page in tests/fixtures/layouts/broken/ must stop scrolling sideways at every width
after `Guardian.heal`; every clean page must render pixel-identically before and after.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from trinity_core.guardian import DEFAULT_WIDTHS, Guardian, GuardianError

LAYOUTS = Path(__file__).resolve().parents[1] / "fixtures" / "layouts"
BROKEN = sorted((LAYOUTS / "broken").glob("*.html"))
CLEAN = sorted((LAYOUTS / "clean").glob("*.html"))


@pytest.fixture(scope="module")
def guardian() -> Iterator[Guardian]:
    with Guardian() as g:
        yield g


def test_corpus_covers_every_cause() -> None:
    assert len(BROKEN) >= 12 and len(CLEAN) >= 5


@pytest.mark.parametrize("page", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_page_heals_to_no_overflow_at_every_width(guardian: Guardian, page: Path) -> None:
    result = guardian.heal(page.read_text())
    assert result.clean, [(w.width, w.scroll_width, w.findings) for w in result.rounds[-1].widths]
    # An independent re-check of the final page.
    final = guardian.check(result.html)
    assert [(w.width, w.overflow, w.masked) for w in final.widths] == [(w, False, False) for w in DEFAULT_WIDTHS]
    assert result.fixes, "a broken page needs at least one fix"


@pytest.mark.parametrize("page", CLEAN, ids=[p.stem for p in CLEAN])
def test_clean_page_renders_identically_after_heal(guardian: Guardian, page: Path) -> None:
    html = page.read_text()
    before = guardian.check(html, screenshots=True)
    assert before.clean and not before.findings, before.findings
    result = guardian.heal(html)
    assert len(result.rounds) == 1 and result.html != html  # preventive heal applied, no targeted one
    after = guardian.check(result.html, screenshots=True)
    for b, a in zip(before.widths, after.widths, strict=True):
        assert b.screenshot and b.screenshot == a.screenshot, f"{page.stem} differs at {b.width}px"


@pytest.mark.parametrize(
    ("page", "selector", "cause"),
    [
        ("fixed-width", "div.container", "fixed_width"),
        ("wide-table", "table.data", "wide_table"),
        ("absolute-blob", "div.blob", "absolute_position"),
        ("grid-fixed-tracks", "div.cards", "cramped_grid"),
        ("oversized-heading", "body > h1:nth-of-type(1)", "oversized_heading"),
        ("flex-basis", "div.row > div:nth-of-type(3)", "flex_child"),
        ("vw-padding", "section.hero", "fixed_width"),
    ],
)
def test_causes_are_classified(guardian: Guardian, page: str, selector: str, cause: str) -> None:
    from trinity_core import heal_html

    report = guardian.check(heal_html((LAYOUTS / "broken" / f"{page}.html").read_text())["html"])
    assert not report.clean
    assert any(f["selector"] == selector and f["cause"] == cause for f in report.findings), report.findings


def test_body_overflow_hidden_is_reported_as_masked(guardian: Guardian) -> None:
    report = guardian.check((LAYOUTS / "broken" / "masked-body.html").read_text())
    # overflow-x:hidden on body hides the 1000px panel (cut off, not fixed): masked, not overflow.
    for w in report.widths[:3]:
        assert not w.overflow and w.masked, w
        assert w.findings and all(f["masked"] for f in w.findings)
    assert not report.clean


def test_left_edge_and_skipped_elements(guardian: Guardian) -> None:
    html = """<!doctype html><meta name="viewport" content="width=device-width">
    <div class="neg" style="margin-left:-200px;width:100px;height:10px;background:red"></div>
    <div style="display:none;width:2000px">hidden</div>
    <div style="position:fixed;left:0;width:2000px">fixed</div>
    <div style="overflow-x:auto"><div style="width:2000px">scroller content</div></div>"""
    report = guardian.check(html)
    assert all(not w.overflow for w in report.widths)
    found = report.findings
    assert [(f["selector"], f["edge"]) for f in found] == [("div.neg", "left")], found


def test_screenshots_on_request(guardian: Guardian) -> None:
    report = guardian.check("<p>hi</p>", screenshots=True)
    assert all(w.screenshot and w.screenshot.startswith(b"\x89PNG") for w in report.widths)
    assert all(w.screenshot is None for w in guardian.check("<p>hi</p>").widths)


def test_missing_browser_is_a_clear_error() -> None:
    with pytest.raises(GuardianError, match="apt-get install chromium"):
        Guardian(executable_path="/nonexistent/chromium")


def test_import_never_loads_playwright() -> None:
    code = (
        "import sys; sys.modules['playwright'] = None\n"
        "import trinity_core, trinity_core.guardian as g\n"
        "assert trinity_core.heal_html('<p>x')['html']\n"
        "try:\n    g.Guardian()\n"
        "except g.GuardianError as e:\n    assert 'trinity-core[guardian]' in str(e); print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_cli_heals_a_page(tmp_path: Path) -> None:
    out = tmp_path / "out.html"
    src = LAYOUTS / "broken" / "fixed-width.html"
    run = subprocess.run(
        [sys.executable, "-m", "trinity_core.guardian", "heal", str(src), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "clean" in run.stderr and "data-trinity-heal" in out.read_text()
