"""The guardian in a real Chromium (Debian's `chromium`, installed by `make setup-chromium`).

Every broken page in tests/fixtures/layouts (one cause per page, and a themed site broken by an
external stylesheet) must stop scrolling sideways at every width after `Guardian.heal`, without
masking; every clean page comes back unchanged. Pages load with their stylesheets; the network
is off except the page's own site.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import http.server
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from healer_corpus import LAYOUTS, THEMED, Page, fixture_pages

import trinity_core as tc
from trinity_core.guardian import DEFAULT_WIDTHS, AsyncGuardian, Guardian, GuardianError, HealResult

BROKEN = fixture_pages("broken")
CLEAN = fixture_pages("clean")
NO_OVERFLOW = [(w, False, False) for w in DEFAULT_WIDTHS]
T = TypeVar("T")


@pytest.fixture(scope="module")
def guardian() -> Iterator[Guardian]:
    with Guardian() as g:
        yield g


def final_state(result: HealResult) -> list[tuple[int, bool, bool]]:
    return [(w.width, w.overflow, w.masked) for w in result.rounds[-1].widths]


def test_corpus_covers_every_cause() -> None:
    assert len(BROKEN) >= 20 and len(CLEAN) >= 10
    assert sum(p.name.startswith("themed/") for p in BROKEN) >= 5


@pytest.mark.parametrize("page", BROKEN, ids=[p.name for p in BROKEN])
def test_broken_page_heals_at_every_width_without_masking(guardian: Guardian, page: Page) -> None:
    result = guardian.heal(page.path, root=page.root)
    # The last round is a full check of the final page, in a fresh browser context per width.
    assert final_state(result) == NO_OVERFLOW, result.rounds[-1].findings
    assert result.fixes, "a broken page needs at least one fix"
    assert not any(f["selector"] in ("html", "body") and "overflow-x:hidden" in f["added"] for f in result.fixes)
    if page.name.startswith("themed/"):  # the page keeps its links: the theme is still linked as written
        assert '<link rel="stylesheet" href="../css/theme.css">' in result.html


@pytest.mark.parametrize("page", CLEAN, ids=[p.name for p in CLEAN])
def test_clean_page_comes_back_unchanged(guardian: Guardian, page: Page) -> None:
    result = guardian.heal(page.path, root=page.root)
    assert result.rounds[0].clean, result.rounds[0].findings
    assert (result.html, result.fixes, len(result.rounds)) == (page.text(), [], 1)


def test_safety_net_keeps_clean_pages_pixel_identical(guardian: Guardian) -> None:
    """The opt-in net on pages that fit: same pixels at 375 and 1280."""
    with Guardian(widths=(375, 1280), browser=guardian.browser) as g:
        for page in CLEAN:
            html = page.text()
            netted = tc.heal_html(html, {"safety_net": True})
            assert "data-trinity-heal" in netted["html"]
            before = g.check(page.path, root=page.root, screenshots=True)
            after = g.check(netted["html"], base_url=page.path, root=page.root, screenshots=True)
            for b, a in zip(before.widths, after.widths, strict=True):
                assert b.screenshot and b.screenshot == a.screenshot, f"{page.name} differs at {b.width}px"


def test_external_stylesheet_is_what_makes_the_page_overflow(guardian: Guardian) -> None:
    page = THEMED / "broken" / "cards-fixed-tracks.html"
    html = page.read_text()
    # Without a base URL nothing but the page loads: the theme's broken grid is not seen.
    assert guardian.check(html).clean
    # With it (a file path, or the HTML with its base), the grid from ../css/cards-fixed.css overflows.
    for report in (
        guardian.check(page, root=THEMED),
        guardian.check(html, base_url=page, root=THEMED),
        guardian.check(page.as_uri(), root=THEMED),
    ):
        assert report.failing_widths == [320, 375, 768]
        assert [f["cause"] for f in report.findings] == ["cramped_grid"]
    # Root-relative links resolve against the site root, and paths outside it are refused.
    links = (
        '<meta name="viewport" content="width=device-width">'
        '<link rel="stylesheet" href="/css/theme.css"><link rel="stylesheet" href="/css/cards-fixed.css">'
    )
    rooted = guardian.check(
        links + '<div class="cards"><p>a</p><p>b</p><p>c</p></div>', base_url=THEMED / "clean", root=THEMED
    )
    assert rooted.failing_widths == [320, 375, 768]
    with pytest.raises(tc.InvalidInputError):
        guardian.check(html, base_url=LAYOUTS / "clean" / "form.html", root=THEMED)
    with pytest.raises(tc.NotFoundError):
        guardian.check(THEMED / "nope.html")
    with pytest.raises(tc.NotFoundError):
        guardian.check("thmed/index.html")  # a mistyped path is not checked as the text of a page


class _Server:
    """A loopback HTTP server for one directory (for URL sources)."""

    def __init__(self, directory: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.requests: list[str] = []
        self.httpd.requests = self.requests  # type: ignore[attr-defined]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]


def test_url_pages_load_from_their_origin_only(guardian: Guardian, tmp_path: Path) -> None:
    site, other = _Server(THEMED), _Server(tmp_path)
    try:
        (tmp_path / "wide.css").write_text("body{min-width:2000px}")
        url = site.url + "broken/cards-fixed-tracks.html"
        assert guardian.check(url).failing_widths == [320, 375, 768]
        assert "/css/cards-fixed.css" in site.requests
        result = guardian.heal(url)
        assert result.clean and '<link rel="stylesheet" href="../css/cards-fixed.css">' in result.html
        # Another origin is off: its stylesheet would make every width overflow.
        page = f'<link rel="stylesheet" href="{other.url}wide.css"><p>x</p>'
        assert guardian.check(page, base_url=site.url).clean
        assert other.requests == []
    finally:
        site.close()
        other.close()


def test_same_page_measured_twice_gives_the_same_figures(guardian: Guardian) -> None:
    for page in (THEMED / "broken" / "nav-nowrap.html", LAYOUTS / "broken" / "flex-basis.html"):
        a = guardian.check(page, root=THEMED if "themed" in page.parts else None, screenshots=True)
        b = guardian.check(page, root=THEMED if "themed" in page.parts else None, screenshots=True)
        assert [w.figures for w in a.widths] == [w.figures for w in b.widths]
        assert [w.screenshot for w in a.widths] == [w.screenshot for w in b.widths]
    # Fixed clock and seeded random: a page that prints them renders the same twice.
    script = "<p id=t></p><script>t.textContent = Date.now() + ' ' + Math.random()</script>"
    shots = [guardian.check(script, screenshots=True).widths[0].screenshot for _ in range(2)]
    assert shots[0] == shots[1]


def test_desktop_page_without_viewport_meta_is_not_given_one(guardian: Guardian) -> None:
    page = LAYOUTS / "desktop" / "no-viewport.html"
    result = guardian.heal(page)
    assert 'name="viewport"' not in result.html and result.clean
    # 980px layout on phones: only the 768px desktop window overflows (the 900px box).
    assert result.rounds[0].failing_widths == [768]
    opted = guardian.heal(page, viewport=True)
    assert opted.clean and opted.fixes[0]["rule"] == "viewport-meta"
    assert opted.rounds[0].failing_widths == [320, 375, 768]


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
        ("form-controls", "#e", "form_control"),
        ("form-controls", "button.send", "form_control"),
        ("nowrap-nav-list", "body > header:nth-of-type(1) > nav:nth-of-type(1)", "flex_child"),
        ("inline-nowrap-menu", "ul.menu", "nowrap_row"),
        ("flex-nowrap-nav", "nav.nav", "nowrap_row"),
    ],
)
def test_causes_are_classified(guardian: Guardian, page: str, selector: str, cause: str) -> None:
    report = guardian.check(LAYOUTS / "broken" / f"{page}.html")
    assert not report.clean
    assert any(f["selector"] == selector and f["cause"] == cause for f in report.findings), report.findings


def test_nowrap_rows_wrap_and_form_controls_fit(guardian: Guardian) -> None:
    result = guardian.heal(LAYOUTS / "broken" / "nowrap-nav-list.html")
    assert {"row-wrap"} <= {f["rule"] for f in result.fixes} and result.clean
    result = guardian.heal(LAYOUTS / "broken" / "form-control-row.html")
    assert "form-control-fit" in {f["rule"] for f in result.fixes} and result.clean
    # Scoped to the failing widths: the desktop layout is untouched.
    assert all(f["added"].startswith("@media (max-width:767px)") for f in result.fixes)


def test_body_overflow_hidden_is_reported_as_masked(guardian: Guardian) -> None:
    report = guardian.check(LAYOUTS / "broken" / "masked-body.html")
    # overflow-x:hidden on body hides the 1000px panel (cut off, not fixed): masked, not overflow.
    for w in report.widths[:3]:
        assert not w.overflow and w.masked, w
        assert w.findings and all(f["masked"] for f in w.findings)
    assert not report.clean and report.masked


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


def in_thread(fn: Callable[[], T]) -> T:
    """Runs ``fn`` in a new thread: the module's sync Playwright holds this thread's event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def test_async_guardian_heals_many_pages_concurrently(guardian: Guardian) -> None:
    pages = BROKEN[:8] + CLEAN[:4]

    async def main() -> list[HealResult]:
        async with AsyncGuardian(concurrency=4) as g:
            return await asyncio.gather(*(g.heal(p.path, root=p.root) for p in pages))

    results = in_thread(lambda: asyncio.run(main()))
    for page, result in zip(pages, results, strict=True):
        assert final_state(result) == NO_OVERFLOW, page.name
        if page in CLEAN:
            assert result.html == page.text() and not result.fixes
    # The same pages give the same healed HTML with the sync guardian.
    assert [guardian.heal(p.path, root=p.root).html for p in pages[:3]] == [r.html for r in results[:3]]


def test_sync_guardian_inside_a_running_loop_points_to_the_async_one() -> None:
    async def main() -> None:
        with pytest.raises(GuardianError, match="AsyncGuardian") as e:
            Guardian()
        assert e.value.code == "config" and isinstance(e.value, tc.TrinityError)

    in_thread(lambda: asyncio.run(main()))


def test_guardian_shares_a_callers_browser(guardian: Guardian) -> None:
    with Guardian(widths=(375,), browser=guardian.browser) as g:
        assert g.check("<p>x</p>").clean
    assert guardian.check("<p>x</p>").clean  # not closed by the borrower


def test_missing_browser_is_a_clear_error() -> None:
    with pytest.raises(GuardianError, match="apt-get install chromium") as e:
        Guardian(executable_path="/nonexistent/chromium")
    assert e.value.code == "config"


def test_import_never_loads_playwright() -> None:
    code = (
        "import sys; sys.modules['playwright'] = None\n"
        "import trinity_core, trinity_core.guardian as g\n"
        "assert trinity_core.heal_html('<p>x')['html'] == '<p>x'\n"
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


def test_cli_heals_a_site_with_its_assets(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for rel in ("css/theme.css", "css/nav-nowrap.css", "broken/nav-nowrap.html", "clean/post.html"):
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text((THEMED / rel).read_text())
    run = subprocess.run(
        [sys.executable, "-m", "trinity_core.guardian", "heal", str(site), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "2 pages, 1 changed, 0 still overflow" in run.stderr
    healed = (tmp_path / "out" / "broken" / "nav-nowrap.html").read_text()
    assert "row-wrap" not in healed and "flex-wrap:wrap!important" in healed
    assert (tmp_path / "out" / "clean" / "post.html").read_text() == (THEMED / "clean" / "post.html").read_text()
    assert (tmp_path / "out" / "css" / "theme.css").exists()
