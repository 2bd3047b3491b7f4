"""What the sync :class:`Guardian` and the :class:`AsyncGuardian` share: the reports, the browser
settings, the measuring script and the healing loop. Each guardian only drives Playwright (one
with its sync API, one with its async API); everything it decides is decided here once.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import shutil
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trinity_core import ConfigError, heal_html

from ._load import Action, Target

DEFAULT_WIDTHS: tuple[int, ...] = (320, 375, 768, 1280)
#: Below this width the page is rendered as on a phone (mobile viewport, touch).
MOBILE_BELOW = 768
DEBIAN_CHROMIUM = "/usr/bin/chromium"
#: Headless Chromium with nothing running in the background (no component or sync traffic).
LAUNCH_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: Every check sees the same date, so pages that print it render the same twice.
FIXED_TIME = datetime.datetime(2025, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
#: The clock stops here before the page loads; it only moves by the settle time (``run_for``).
PAUSED_AT = FIXED_TIME + datetime.timedelta(seconds=1)
#: How long (on the page's fake clock) timers run after load before the page is measured.
SETTLE_MS = 500

_INSTALL = (
    "install the extra with `pip install trinity-core[guardian]` and a browser with "
    "`apt-get install chromium` (or `playwright install chromium`), or pass executable_path= / set TRINITY_CHROMIUM"
)

#: Runs before the page's own scripts: seeded Math.random, no animations or transitions (each
#: jumps to its end), no blinking caret. An adopted stylesheet adds no element to the page.
INIT_JS = r"""
(() => {
  let seed = 0x2545F491;
  Math.random = () => {
    seed |= 0; seed = (seed + 0x6D2B79F5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const css = '*,*::before,*::after{animation-duration:0s!important;animation-delay:0s!important;' +
    'animation-iteration-count:1!important;transition-duration:0s!important;transition-delay:0s!important;' +
    'caret-color:transparent!important;scroll-behavior:auto!important}';
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  } catch (e) { /* very old engines: animations stay on */ }
})();
"""

#: Resolves when the page's fonts have loaded (or failed) and its loaded images are decoded (lazy
#: images that never loaded are not waited for: their decode would never settle).
FONTS_READY_JS = """() => Promise.all([
  document.fonts.ready,
  ...[...document.images].filter((i) => i.complete && i.naturalWidth).map((i) => i.decode().catch(() => null)),
]).then(() => document.fonts.size)"""


class GuardianError(ConfigError, RuntimeError):
    """The guardian cannot run: Playwright or Chromium is missing, the browser failed, or the sync
    guardian was used inside a running event loop. ``.code`` is ``"config"``."""

    __module__ = "trinity_core.guardian"


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

    @property
    def figures(self) -> tuple[int, bool, int, int, bool, list[tuple[str, str, int]]]:
        """What the check measured, without timing or pixels (equal for equal renderings)."""
        found = [(f["selector"], f["cause"], f["overflow_px"]) for f in self.findings]
        return (self.width, self.overflow, self.scroll_width, self.client_width, self.masked, found)


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
    def masked(self) -> bool:
        """Some width hides overflow with ``overflow-x:hidden`` on ``html``/``body``."""
        return any(w.masked for w in self.widths)

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

    @property
    def elapsed_ms(self) -> float:
        return sum(w.elapsed_ms for w in self.widths)


@dataclass
class HealResult:
    """The final page, each round's report and every fix applied. A page that was clean comes
    back unchanged, with one round and no fixes."""

    html: str
    rounds: list[Report]
    fixes: list[dict[str, str]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return bool(self.rounds) and self.rounds[-1].clean

    @property
    def masked(self) -> bool:
        """The final page still hides overflow with ``overflow-x:hidden`` on ``html``/``body``:
        reported, never forced or undone."""
        return bool(self.rounds) and self.rounds[-1].masked


def _fix(f: Mapping[str, Any]) -> dict[str, str]:
    return {"rule": f["rule"], "selector": f["selector"], "reason": f["reason"], "added": f["added"]}


def heal_loop(
    html: str, widths: Iterable[int], max_rounds: int, preventive: Mapping[str, bool]
) -> Generator[str, Report, HealResult]:
    """The healing loop, independent of how pages are rendered: yields each page to check and
    is sent its report. Opt-in preventive rules first (``viewport``, ``safety_net``, ``grid``),
    then check → targeted heal from the findings → re-check, until clean, out of rounds, or
    nothing new to try. A page that is clean as given is returned unchanged."""
    options: dict[str, Any] = {k: bool(v) for k, v in preventive.items()}
    page, fixes = html, []
    if any(options.values()):
        healed = heal_html(page, options)
        page = healed["html"]
        fixes = [_fix(f) for f in healed["fixes"]]
    rounds = [(yield page)]
    for _ in range(max_rounds):
        if rounds[-1].clean or not rounds[-1].findings:
            break
        step = heal_html(page, {**options, "findings": rounds[-1].findings, "widths": list(widths)})
        if step["html"] == page:
            break  # nothing new to try
        page = step["html"]
        fixes.extend(f for f in map(_fix, step["fixes"]) if f not in fixes)
        rounds.append((yield page))
    return HealResult(html=page, rounds=rounds, fixes=fixes)


class HealSteps:
    """:func:`heal_loop` for one page, as the guardians drive it: check :attr:`pending` (the next
    page to render, ``None`` when done), :meth:`feed` its report, then read :attr:`result`."""

    def __init__(self, target: Target, widths: Iterable[int], max_rounds: int, **preventive: bool) -> None:
        self._target = target
        self._loop = heal_loop(target.html, widths, max_rounds, preventive)
        self.pending: Target | None = target.with_html(next(self._loop))
        self._result: HealResult | None = None

    def feed(self, report: Report) -> None:
        try:
            self.pending = self._target.with_html(self._loop.send(report))
        except StopIteration as done:
            self.pending, self._result = None, done.value

    @property
    def result(self) -> HealResult:
        if self._result is None:
            raise RuntimeError("the healing loop has not finished: check `pending` and feed its report first")
        return self._result


def width_report(raw: Mapping[str, Any], width: int, screenshot: bytes | None, elapsed_ms: float) -> WidthReport:
    findings = list(raw["findings"])
    for f in findings:
        f["widths"] = [width]  # the walk cannot tell: mobile emulation zooms out on overflow
    return WidthReport(
        width=width,
        overflow=bool(raw["overflow"]),
        scroll_width=int(raw["scroll_width"]),
        client_width=int(raw["client_width"]),
        masked=bool(raw["masked"]),
        findings=findings,
        screenshot=screenshot,
        elapsed_ms=elapsed_ms,
    )


def context_options(width: int, height: int) -> dict[str, Any]:
    """One browser context per measured width: a phone below :data:`MOBILE_BELOW` px."""
    mobile = width < MOBILE_BELOW
    return {
        "viewport": {"width": width, "height": height},
        "is_mobile": mobile,
        "has_touch": mobile,
        "device_scale_factor": 1,
        "reduced_motion": "reduce",
        "color_scheme": "light",
        "locale": "en-US",
        "timezone_id": "UTC",
        "service_workers": "block",
    }


def fulfill_args(action: Action) -> dict[str, Any]:
    return {"status": action.status, "body": action.body, "headers": {"content-type": action.content_type}}


def check_widths(widths: Iterable[int]) -> tuple[int, ...]:
    out = tuple(int(w) for w in widths)
    if not out or any(w <= 0 for w in out):
        raise ValueError("widths: expected positive viewport widths in px")
    return out


def chromium_path(executable_path: str | None) -> str:
    path = find_chromium(executable_path)
    if path is None or not os.path.exists(path):
        raise GuardianError(f"no Chromium found (tried {path or DEBIAN_CHROMIUM}): {_INSTALL}")
    return path


def missing_playwright() -> GuardianError:
    return GuardianError(f"the guardian needs Playwright: {_INSTALL}")


def refuse_running_loop() -> None:
    """The sync guardian inside ``async`` code: Playwright's sync API would refuse later, less clearly."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise GuardianError(
        "Guardian uses Playwright's sync API, which cannot run inside a running asyncio event loop "
        "(nor start while another sync Playwright runs in this thread): in async code use "
        "`async with AsyncGuardian() as g: await g.heal(...)` (trinity_core.guardian.AsyncGuardian); "
        "to share your own Playwright browser pass Guardian(browser=...)"
    )


def find_chromium(executable_path: str | None = None) -> str | None:
    """``executable_path``, else ``$TRINITY_CHROMIUM``, else Debian's ``chromium``, else Playwright's
    own browser (looked up without starting Playwright, so it works inside an event loop)."""
    if executable_path:
        return executable_path
    env = os.environ.get("TRINITY_CHROMIUM")
    if env:
        return env
    for candidate in (DEBIAN_CHROMIUM, shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    cache = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or os.path.expanduser("~/.cache/ms-playwright")
    if os.path.isdir(cache):
        for name in sorted(os.listdir(cache), reverse=True):
            own = os.path.join(cache, name, "chrome-linux", "chrome")
            if name.startswith("chromium-") and os.path.exists(own):
                return own
    return None
