"""The guardian on real, complete pages (Start Bootstrap templates from npm, with their own CSS,
scripts, images and fonts; `make healer-corpus`), and on real pages broken on purpose.

A page that fits at 320/375/768/1280 comes back unchanged (so it renders identically); a page
that overflows is fixed at every width without masking; the opt-in safety net leaves the pixels
of every page that renders the same twice unchanged at 375 and 1280.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from healer_corpus import BREAKS, Page, broken_real_pages, real_pages

import trinity_core as tc
from trinity_core.guardian import DEFAULT_WIDTHS, Guardian

REAL = real_pages()
BROKEN_REAL = broken_real_pages()


@pytest.fixture(scope="module")
def guardian() -> Iterator[Guardian]:
    with Guardian() as g:
        yield g


def test_corpus_is_complete() -> None:
    assert len(REAL) >= 25
    assert {p.name.split("/")[0] for p in REAL} == {"creative", "resume", "sb-admin", "sb-admin-2", "simple-sidebar"}
    assert {p.name.split("+")[1] for p in BROKEN_REAL} == set(BREAKS)


@pytest.mark.parametrize("page", REAL, ids=[p.name for p in REAL])
def test_real_page_fits_unchanged_or_is_fixed(guardian: Guardian, page: Page) -> None:
    result = guardian.heal(page.path, root=page.root)
    final = [(w.width, w.overflow, w.masked) for w in result.rounds[-1].widths]
    assert final == [(w, False, False) for w in DEFAULT_WIDTHS], result.rounds[-1].findings
    if result.rounds[0].clean:
        assert (result.html, result.fixes) == (page.text(), [])
    else:  # fixed: only targeted rules, each scoped to the widths that failed
        assert result.fixes and all(f["added"].startswith("@media (max-width:") for f in result.fixes)


@pytest.mark.parametrize("page", BROKEN_REAL, ids=[p.name for p in BROKEN_REAL])
def test_real_page_broken_on_purpose_is_fixed(guardian: Guardian, page: Page) -> None:
    result = guardian.heal(page.html or "", base_url=page.path, root=page.root)
    assert not result.rounds[0].clean, "the break must make the page overflow"
    final = [(w.width, w.overflow, w.masked) for w in result.rounds[-1].widths]
    assert final == [(w, False, False) for w in DEFAULT_WIDTHS], result.rounds[-1].findings
    # Its links are kept as written (the template's own stylesheet, relative).
    assert 'href="css/' in result.html


#: One page of each template and the dashboards' heaviest pages (the net on every real page is
#: measured by `make healer-figures`; here a sample keeps the test time down).
NET_SAMPLE = (
    "creative/index",
    "resume/index",
    "simple-sidebar/index",
    "sb-admin/tables",
    "sb-admin/login",
    "sb-admin-2/cards",
    "sb-admin-2/404",
    "sb-admin-2/blank",
    "sb-admin-2/register",
    "sb-admin-2/buttons",
)


def differs(before: Any, after: Any) -> list[int]:
    """The widths whose screenshots differ between two reports."""
    pairs = zip(before.widths, after.widths, strict=True)
    return [x.width for x, y in pairs if x.screenshot != y.screenshot]


def test_safety_net_keeps_real_pages_pixel_identical(guardian: Guardian) -> None:
    compared = []
    with Guardian(widths=(375, 1280), browser=guardian.browser) as g:
        for page in (p for p in REAL if p.name in NET_SAMPLE):
            a = g.check(page.path, root=page.root, screenshots=True)
            b = g.check(page.path, root=page.root, screenshots=True)
            # Measured twice, the same figures (even where canvas pixels differ).
            assert [w.figures for w in a.widths] == [w.figures for w in b.widths], page.name
            if [w.screenshot for w in a.widths] != [w.screenshot for w in b.widths]:
                continue  # renders differently twice (canvas charts): no pixel baseline
            netted = tc.heal_html(page.text(), {"safety_net": True})["html"]

            c = g.check(netted, base_url=page.path, root=page.root, screenshots=True)
            diff = differs(a, c)
            for _ in range(3):
                if not diff:
                    break
                # A page whose scripts finish late can render differently under load: a real
                # change reproduces on every fresh pair of renders, a late script does not.
                again = g.check(page.path, root=page.root, screenshots=True)
                diff = differs(again, g.check(netted, base_url=page.path, root=page.root, screenshots=True))
            assert diff == [], f"{page.name} differs at {diff} (on four pairs of renders)"
            compared.append(page.name)
    assert len(compared) >= 8, compared
