"""The guardian on Playwright's sync API (scripts, the CLI)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from . import _shared as s
from ._load import Source, Target, download, resolve
from ._walk import WALK_JS


class Guardian:
    """Checks pages in headless Chromium at several widths, as a browser loads them.

    ``check``/``heal`` take a file path, an ``http(s)``/``file`` URL, or an HTML string (with
    ``base_url`` so its relative links load). Each width is measured in a fresh browser context:
    fixed clock and random, no animations, fonts loaded and timers settled before measuring.
    Inside ``async`` code use :class:`AsyncGuardian`.
    """

    def __init__(
        self,
        executable_path: str | None = None,
        widths: Iterable[int] = s.DEFAULT_WIDTHS,
        *,
        height: int = 800,
        settle_ms: int = s.SETTLE_MS,
        browser: Any = None,
    ) -> None:
        self.widths = s.check_widths(widths)
        self.height = height
        self.settle_ms = settle_ms
        self._pw: Any = None
        if browser is not None:  # the caller's own (sync) Playwright browser: used, not closed
            self._browser, self._own = browser, False
            self.executable_path = ""
            return
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as e:
            raise s.missing_playwright() from e
        self.executable_path = s.chromium_path(executable_path)
        s.refuse_running_loop()
        try:
            self._pw = sync_playwright().start()
        except Exception as e:  # another sync Playwright already runs in this thread
            raise s.GuardianError(
                f"Playwright could not start ({e}): pass your own browser as Guardian(browser=...), "
                "or use AsyncGuardian inside async code"
            ) from e
        try:
            self._browser = self._pw.chromium.launch(
                executable_path=self.executable_path, headless=True, args=list(s.LAUNCH_ARGS)
            )
        except Exception as e:
            self._pw.stop()
            raise s.GuardianError(f"Chromium at {self.executable_path} failed to start: {e}") from e
        self._own = True

    @property
    def browser(self) -> Any:
        """The Playwright browser (another Guardian can share it: ``Guardian(browser=g.browser)``)."""
        return self._browser

    def _measure(self, target: Target, width: int, screenshots: bool) -> s.WidthReport:
        start = time.perf_counter()
        context = self._browser.new_context(**s.context_options(width, self.height))
        try:
            context.add_init_script(s.INIT_JS)
            context.clock.install(time=s.FIXED_TIME)
            context.clock.pause_at(s.PAUSED_AT)
            page = context.new_page()

            def route(r: Any) -> None:
                action = target.route(r.request.url)
                if action.kind == "fulfill":
                    r.fulfill(**s.fulfill_args(action))
                elif action.kind == "continue":
                    r.continue_()
                else:
                    r.abort()

            page.route("**/*", route)
            page.goto(target.url, wait_until="load")
            page.evaluate(s.FONTS_READY_JS)
            context.clock.run_for(self.settle_ms)
            page.evaluate(s.FONTS_READY_JS)
            raw = page.evaluate(WALK_JS)
            shot = page.screenshot(full_page=True, animations="disabled") if screenshots else None
        finally:
            context.close()
        return s.width_report(raw, width, shot, (time.perf_counter() - start) * 1000)

    def _target(self, source: Source, base_url: str | os.PathLike[str] | None, root: Source | None) -> Target:
        target, url = resolve(source, base_url=base_url, root=root)
        return target.with_html(download(url)) if url else target

    def _check(self, target: Target, screenshots: bool) -> s.Report:
        return s.Report([self._measure(target, w, screenshots) for w in self.widths])

    def check(
        self,
        source: Source,
        *,
        base_url: str | os.PathLike[str] | None = None,
        root: Source | None = None,
        screenshots: bool = False,
    ) -> s.Report:
        """Renders the page at every width and reports overflow and its causes."""
        return self._check(self._target(source, base_url, root), screenshots)

    def heal(
        self,
        source: Source,
        *,
        base_url: str | os.PathLike[str] | None = None,
        root: Source | None = None,
        max_rounds: int = 3,
        viewport: bool = False,
        safety_net: bool = False,
        grid: bool = False,
    ) -> s.HealResult:
        """Check → targeted heal of what overflows → re-check, until clean or out of rounds. A page
        that fits comes back unchanged. ``viewport``/``safety_net``/``grid`` add the healer's
        opt-in preventive rules first. The healed HTML keeps its links as written."""
        target = self._target(source, base_url, root)
        steps = s.HealSteps(target, self.widths, max_rounds, viewport=viewport, safety_net=safety_net, grid=grid)
        while steps.pending is not None:
            steps.feed(self._check(steps.pending, False))
        return steps.result

    def close(self) -> None:
        if self._own:
            self._browser.close()
            self._pw.stop()

    def __enter__(self) -> Guardian:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
