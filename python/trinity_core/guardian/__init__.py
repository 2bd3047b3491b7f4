"""Guardian: renders pages in headless Chromium and finds what makes them scroll sideways.

Needs the ``guardian`` extra (``pip install trinity-core[guardian]``) and a Chromium. Importing
this module never imports Playwright; :class:`Guardian` does, and says how to install what is
missing.

    >>> from trinity_core.guardian import Guardian
    >>> with Guardian() as g:
    ...     result = g.heal(open("page.html").read())
    ...     result.clean, len(result.fixes)
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trinity_core import heal_html

from ._walk import WALK_JS

__all__ = ["DEFAULT_WIDTHS", "Guardian", "GuardianError", "HealResult", "Report", "WidthReport", "find_chromium"]

DEFAULT_WIDTHS: tuple[int, ...] = (320, 375, 768, 1280)
#: Below this width the page is rendered as on a phone (mobile viewport, touch).
MOBILE_BELOW = 768
DEBIAN_CHROMIUM = "/usr/bin/chromium"

_INSTALL = (
    "install the extra with `pip install trinity-core[guardian]` and a browser with "
    "`apt-get install chromium` (or `playwright install chromium`), or pass executable_path= / set TRINITY_CHROMIUM"
)


class GuardianError(RuntimeError):
    """The guardian cannot run: Playwright or Chromium is missing, or the browser failed."""


@dataclass
class WidthReport:
    """One width: page-level overflow and the elements that cause it."""

    width: int
    overflow: bool
    scroll_width: int
    client_width: int
    masked: bool
    findings: list[dict[str, Any]]
    screenshot: bytes | None = None
    elapsed_ms: float = 0.0


@dataclass
class Report:
    """Every width of one check, with the findings merged across widths (the healer's input)."""

    widths: list[WidthReport]

    @property
    def clean(self) -> bool:
        """No width scrolls sideways, and nothing is hidden by ``overflow-x:hidden``."""
        return not any(w.overflow or w.masked for w in self.widths)

    @property
    def failing_widths(self) -> list[int]:
        return [w.width for w in self.widths if w.overflow or w.masked]

    @property
    def findings(self) -> list[dict[str, Any]]:
        """Findings merged across widths. Each carries every width at which the page failed, not
        only its own: overflow in a flex row or grid depends on all its items, so a fix scoped to
        one item's widths can leave the row overflowing at the next width."""
        failing = self.failing_widths
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for w in self.widths:
            for f in w.findings:
                key = (f["selector"], f["cause"])
                if key in merged:
                    merged[key]["overflow_px"] = max(merged[key]["overflow_px"], f["overflow_px"])
                else:
                    merged[key] = dict(f, widths=sorted(set(failing) | set(f["widths"])))
        return list(merged.values())


@dataclass
class HealResult:
    """The final page, each round's report and every fix applied."""

    html: str
    rounds: list[Report]
    fixes: list[dict[str, str]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return bool(self.rounds) and self.rounds[-1].clean


def _fix(f: Mapping[str, Any]) -> dict[str, str]:
    return {"rule": f["rule"], "selector": f["selector"], "reason": f["reason"], "added": f["added"]}


def find_chromium(executable_path: str | None = None) -> str | None:
    """``executable_path``, else ``$TRINITY_CHROMIUM``, else Playwright's browser, else Debian's."""
    if executable_path:
        return executable_path
    env = os.environ.get("TRINITY_CHROMIUM")
    if env:
        return env
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            own = p.chromium.executable_path
        if own and os.path.exists(own):
            return own
    except Exception:  # no Playwright, or no browser of its own: fall through
        pass
    for candidate in (DEBIAN_CHROMIUM, shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


class Guardian:
    """Checks pages in headless Chromium at several widths; one page per width is reused."""

    def __init__(
        self,
        executable_path: str | None = None,
        widths: Iterable[int] = DEFAULT_WIDTHS,
        *,
        height: int = 800,
    ) -> None:
        self.widths = tuple(int(w) for w in widths)
        if not self.widths or any(w <= 0 for w in self.widths):
            raise ValueError("widths: expected positive viewport widths in px")
        self.height = height
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as e:
            raise GuardianError(f"the guardian needs Playwright: {_INSTALL}") from e
        path = find_chromium(executable_path)
        if path is None or not os.path.exists(path):
            raise GuardianError(f"no Chromium found (tried {path or DEBIAN_CHROMIUM}): {_INSTALL}")
        self.executable_path = path
        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(executable_path=path, headless=True)
        except Exception as e:
            self._pw.stop()
            raise GuardianError(f"Chromium at {path} failed to start: {e}") from e
        self._pages: dict[int, Any] = {}

    def _page(self, width: int) -> Any:
        page = self._pages.get(width)
        if page is None:
            mobile = width < MOBILE_BELOW
            context = self._browser.new_context(
                viewport={"width": width, "height": self.height},
                is_mobile=mobile,
                has_touch=mobile,
                device_scale_factor=1,
            )
            page = context.new_page()
            self._pages[width] = page
        return page

    def check(self, html: str, *, screenshots: bool = False) -> Report:
        """Renders ``html`` at every width and reports overflow and its causes."""
        reports = []
        for width in self.widths:
            start = time.perf_counter()
            page = self._page(width)
            page.set_content(html, wait_until="load")
            raw = page.evaluate(WALK_JS)
            for f in raw["findings"]:
                f["widths"] = [width]  # the walk cannot tell: mobile emulation zooms out on overflow
            shot = page.screenshot(full_page=True) if screenshots else None
            reports.append(
                WidthReport(
                    width=width,
                    overflow=bool(raw["overflow"]),
                    scroll_width=int(raw["scroll_width"]),
                    client_width=int(raw["client_width"]),
                    masked=bool(raw["masked"]),
                    findings=raw["findings"],
                    screenshot=shot,
                    elapsed_ms=(time.perf_counter() - start) * 1000,
                )
            )
        return Report(reports)

    def heal(self, html: str, max_rounds: int = 3) -> HealResult:
        """Preventive heal, then check → targeted heal → re-check until clean or out of rounds."""
        healed = heal_html(html)
        page, fixes = healed["html"], [_fix(f) for f in healed["fixes"]]
        rounds = [self.check(page)]
        for _ in range(max_rounds):
            if rounds[-1].clean:
                break
            options = {"findings": rounds[-1].findings, "widths": list(self.widths)}
            step = heal_html(page, options)
            if step["html"] == page:
                break  # nothing new to try
            page = step["html"]
            fixes.extend(_fix(f) for f in step["fixes"] if _fix(f) not in fixes)
            rounds.append(self.check(page))
        return HealResult(html=page, rounds=rounds, fixes=fixes)

    def close(self) -> None:
        for page in self._pages.values():
            page.context.close()
        self._pages.clear()
        self._browser.close()
        self._pw.stop()

    def __enter__(self) -> Guardian:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
