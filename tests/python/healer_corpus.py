"""The guardian's page corpus, shared by its tests and `bench/python/bench_healer.py --corpus`.

- real pages: complete Start Bootstrap templates (MIT) with their own CSS, JS, images and fonts,
  unpacked from npm by `make healer-corpus` into target/healer-corpus (git-ignored, pinned in
  mk/healer.mk);
- themed pages: a Trinity-style site whose layout lives in an external theme (tests/fixtures/
  layouts/themed), clean, and broken by an extra external stylesheet;
- tests/fixtures/layouts/{clean,broken}: one cause per page;
- real pages broken on purpose: a real template plus one stylesheet rule of a known cause.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYOUTS = ROOT / "tests" / "fixtures" / "layouts"
THEMED = LAYOUTS / "themed"
CORPUS = ROOT / "target" / "healer-corpus"


@dataclass(frozen=True)
class Page:
    """A page to check: a file under ``root`` (its site), or an HTML string served at ``path``."""

    name: str
    path: Path
    root: Path
    html: str | None = None

    def text(self) -> str:
        return self.html if self.html is not None else self.path.read_text(encoding="utf-8")

    @property
    def source(self) -> Path | str:
        return self.path if self.html is None else self.html

    @property
    def base_url(self) -> Path | None:
        return None if self.html is None else self.path


def ensure_corpus() -> Path:
    """Unpacks the real-page corpus (`make healer-corpus`) when it is not there yet."""
    if not (CORPUS / ".done").exists():
        subprocess.run(["make", "-s", "--no-print-directory", "healer-corpus"], cwd=ROOT, check=True)
    return CORPUS


def real_pages() -> list[Page]:
    pages = []
    for site in sorted(p for p in ensure_corpus().iterdir() if p.is_dir() and not p.name.startswith(".")):
        top = site / "dist" if (site / "dist").is_dir() else site
        short = re.sub(r"^startbootstrap-|-[\d.]+$", "", site.name)
        pages += [Page(f"{short}/{p.stem}", p, top) for p in sorted(top.glob("*.html"))]
    return pages


def fixture_pages(kind: str) -> list[Page]:
    """``kind`` is ``clean`` or ``broken``: the one-cause layouts and the themed site."""
    plain = [Page(p.stem, p, p.parent) for p in sorted((LAYOUTS / kind).glob("*.html"))]
    themed = [Page(f"themed/{p.stem}", p, THEMED) for p in sorted((THEMED / kind).glob("*.html"))]
    return plain + themed


#: Known causes added to real pages (issue 6's kinds, and the two kinds issue 11 added).
BREAKS = {
    "fixed-width": ".container,.container-fluid{width:1100px}",
    "wide-table": "table{min-width:900px}",
    "form-control": "input,select,textarea{width:640px!important}",
    "nowrap-nav": ".navbar-nav,.nav{display:flex!important;flex-direction:row!important;flex-wrap:nowrap!important;"
    "white-space:nowrap}",
    "oversized-heading": "h1{font-size:120px!important;line-height:1!important}",
}
#: Which real page gets which break: every break on at least one page, three template families
#: (sb-admin-2 and simple-sidebar clip their content wrapper, so no break there reaches the page).
BREAK_ON = (
    ("creative/index", "fixed-width"),
    ("creative/index", "form-control"),
    ("creative/index", "oversized-heading"),
    ("sb-admin/tables", "wide-table"),
    ("sb-admin/tables", "nowrap-nav"),
    ("resume/index", "oversized-heading"),
)


def broken_real_pages() -> list[Page]:
    by_name = {p.name: p for p in real_pages()}
    out = []
    for name, cause in BREAK_ON:
        page = by_name[name]
        html = page.text().replace("</head>", f"<style>{BREAKS[cause]}</style>\n</head>", 1)
        out.append(Page(f"{name}+{cause}", page.path, page.root, html))
    return out
