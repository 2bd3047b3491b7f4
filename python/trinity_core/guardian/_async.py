"""The guardian on Playwright's async API, for asyncio pipelines: many pages at once, one browser."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from typing import Any

from . import _shared as s
from ._load import Source, Target, download, resolve
from ._walk import WALK_JS


class AsyncGuardian:
    """:class:`Guardian` for asyncio: ``async with AsyncGuardian() as g: await g.heal(...)``.

    Same sources, measurements and healing loop as the sync guardian. Checks from concurrent tasks
    share one browser; at most ``concurrency`` pages render at a time.
    """

    def __init__(
        self,
        executable_path: str | None = None,
        widths: Iterable[int] = s.DEFAULT_WIDTHS,
        *,
        height: int = 800,
        settle_ms: int = s.SETTLE_MS,
        concurrency: int = 4,
        browser: Any = None,
    ) -> None:
        self.widths = s.check_widths(widths)
        self.height = height
        self.settle_ms = settle_ms
        if concurrency < 1:
            raise ValueError("concurrency: expected at least 1")
        self._slots = asyncio.Semaphore(concurrency)
        self._executable = executable_path
        self._browser = browser
        self._own = browser is None
        self._pw: Any = None
        self.executable_path = ""

    async def start(self) -> AsyncGuardian:
        if self._browser is not None:
            return self
        try:
            from playwright.async_api import async_playwright
        except ImportError as e:
            raise s.missing_playwright() from e
        self.executable_path = s.chromium_path(self._executable)
        self._pw = await async_playwright().start()
        try:
            self._browser = await self._pw.chromium.launch(
                executable_path=self.executable_path, headless=True, args=list(s.LAUNCH_ARGS)
            )
        except Exception as e:
            await self._pw.stop()
            raise s.GuardianError(f"Chromium at {self.executable_path} failed to start: {e}") from e
        return self

    async def _measure(self, target: Target, width: int, screenshots: bool) -> s.WidthReport:
        async with self._slots:
            start = time.perf_counter()
            context = await self._browser.new_context(**s.context_options(width, self.height))
            try:
                await context.add_init_script(s.INIT_JS)
                await context.clock.install(time=s.FIXED_TIME)
                await context.clock.pause_at(s.PAUSED_AT)
                page = await context.new_page()

                async def route(r: Any) -> None:
                    action = target.route(r.request.url)
                    if action.kind == "fulfill":
                        await r.fulfill(**s.fulfill_args(action))
                    elif action.kind == "continue":
                        await r.continue_()
                    else:
                        await r.abort()

                await page.route("**/*", route)
                await page.goto(target.url, wait_until="load")
                await page.evaluate(s.FONTS_READY_JS)
                await context.clock.run_for(self.settle_ms)
                await page.evaluate(s.FONTS_READY_JS)
                raw = await page.evaluate(WALK_JS)
                shot = await page.screenshot(full_page=True, animations="disabled") if screenshots else None
            finally:
                await context.close()
            return s.width_report(raw, width, shot, (time.perf_counter() - start) * 1000)

    async def _target(self, source: Source, base_url: str | os.PathLike[str] | None, root: Source | None) -> Target:
        if self._browser is None:
            raise s.GuardianError("AsyncGuardian is not started: use `async with AsyncGuardian() as g:`")
        target, url = resolve(source, base_url=base_url, root=root)
        return target.with_html(await asyncio.to_thread(download, url)) if url else target

    async def _check(self, target: Target, screenshots: bool) -> s.Report:
        # Widths render side by side (each in its own context), within the concurrency limit.
        return s.Report(list(await asyncio.gather(*(self._measure(target, w, screenshots) for w in self.widths))))

    async def check(
        self,
        source: Source,
        *,
        base_url: str | os.PathLike[str] | None = None,
        root: Source | None = None,
        screenshots: bool = False,
    ) -> s.Report:
        """Renders the page at every width and reports overflow and its causes."""
        return await self._check(await self._target(source, base_url, root), screenshots)

    async def heal(
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
        """As :meth:`Guardian.heal`."""
        target = await self._target(source, base_url, root)
        steps = s.HealSteps(target, self.widths, max_rounds, viewport=viewport, safety_net=safety_net, grid=grid)
        while steps.pending is not None:
            steps.feed(await self._check(steps.pending, False))
        return steps.result

    async def close(self) -> None:
        if self._own and self._browser is not None:
            await self._browser.close()
            await self._pw.stop()
            self._browser = None

    async def __aenter__(self) -> AsyncGuardian:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
