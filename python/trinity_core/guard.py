"""Run guards for agent loops (seed 003): a step limit, a wall-time limit that cancels a hung
call, loop detection without an LLM, a crash-safe JSON Lines event log, and a performance report.

    from trinity_core import RunGuard, GuardStoppedError

    guard = RunGuard(max_steps=50, max_time_s=120, event_log="run.jsonl")
    try:
        while not done:
            found = await guard.run_step("search", {"q": query}, lambda: search(query))
            answer = await guard.chat(client, model="gpt-4o-mini", messages=messages)
    except GuardStoppedError as e:
        print(e.details["reason"])            # max_steps | max_time | loop_detected
    print(guard.performance_report())        # count, average, min, max, p50, p95, p99 per metric

Every stop is a :class:`GuardStoppedError` with ``details["reason"]`` (``max_steps``,
``max_time``, ``loop_detected``; a loop adds ``rule`` and ``steps``), and it is sticky: every
later step or check raises the same error. The rules, the event log and the report are the
core's (``trinity_core::guard``); this module maps ``await``, exceptions and cancellation onto it.

Values: a step's arguments and result are kept as JSON — JSON-able values as themselves, and
inside them anything that is not JSON-able (an object, a set, bytes) by its ``repr()``. A step's
error is an exception (a ``TrinityError``'s ``.code``, else its class name, and ``str(e)``) or a
dict ``{"code", "message"}``.

Use :func:`read_event_log` to read an event log back, also after a crash (a torn last line is
dropped and reported).
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, Union, overload

from trinity_core import _native
from trinity_core._native import ChatResponse, Client, GuardStoppedError, read_event_log

# The report's and the log's TypedDicts (PerformanceReport, MetricSummary, StopInfo,
# EventLogStatus, EventLogContents) are typing-only, in trinity_core/_native.pyi.
__all__ = ["GuardStoppedError", "RunGuard", "read_event_log"]

T = TypeVar("T")
Work = Union[Awaitable[T], Callable[[], Awaitable[T]]]  # noqa: UP007 - subscriptable as Work[T] on 3.10

# What a step cancelled from outside (its task was cancelled, not by the guard) is recorded with.
_CANCELLED = {"code": "cancelled", "message": "the task running the step was cancelled"}


def _close(work: object) -> None:
    """A coroutine that will never run is closed, so Python does not warn it was never awaited."""
    if inspect.iscoroutine(work):
        work.close()


class RunGuard(_native.RunGuard):
    """Bounds one agent run.

    ``RunGuard(config=None, *, max_steps=None, max_time_s=None, loops=None, event_log=None,
    log_arguments=None)``: a dict of the settings and/or keywords (keywords win). ``loops`` is
    ``{enabled, same_action, near_duplicate, alternation_cycles, same_error, cosmetic_keys,
    meaningful_keys}``; an unknown or bad key raises :class:`InvalidInputError` naming it.

    Steps: ``await run_step(name, arguments, work)`` (cancelled at the deadline),
    ``run_step_sync`` (not cancellable), or ``begin_step``/``finish_step`` by number, or
    ``record_step`` after the fact. LLM calls: ``await chat(client, ...)`` / ``chat_sync``
    (cancelled in the engine at the deadline) or ``record_llm_call`` after the fact.
    """

    @overload
    async def run_step(self, name: str, arguments: Any, work: Work[T]) -> T: ...
    @overload
    async def run_step(self, name: str, arguments: Any, work: Callable[[], T]) -> T: ...
    async def run_step(self, name: str, arguments: Any, work: Any) -> Any:
        """Runs one step: begins it, awaits `work` (an awaitable, or a zero-argument callable
        returning an awaitable or a plain value) until the run's deadline, and finishes it.

        - Still running at the deadline: `work` is cancelled (it sees ``asyncio.CancelledError``
          and its clean-up runs), the step is recorded as cancelled and the run stopped;
          :class:`GuardStoppedError` (reason ``max_time``) is raised.
        - Raised an exception: the step is finished with it as its error and it is re-raised —
          unless that step completed a loop (e.g. the same error again), when the
          :class:`GuardStoppedError` is raised from it instead.
        - Returned: the step is finished with the result, which is returned — or
          :class:`GuardStoppedError` if that step completed a loop or the time ran out.

        Cancelling the task that awaits ``run_step`` cancels `work` and records the step as
        failed with code ``cancelled``; the ``CancelledError`` goes on.
        """
        try:
            number = self.begin_step(name, arguments)
        except BaseException:
            _close(work)
            raise
        try:
            value = work() if callable(work) else work
        except Exception as exc:
            self._finish_failed(number, exc)
            raise
        except BaseException as exc:
            self._finish_interrupted(number, exc)
            raise
        if not inspect.isawaitable(value):
            self.finish_step(number, value)
            return value
        try:
            result = await self._await_until_deadline(number, value)
        except _DeadlineReached as reached:
            raise reached.error from None
        except Exception as exc:
            self._finish_failed(number, exc)
            raise
        except BaseException as exc:
            self._finish_interrupted(number, exc)
            raise
        self.finish_step(number, result)
        return result

    async def _await_until_deadline(self, number: int, awaitable: Awaitable[T]) -> T:
        remaining = self.remaining_s
        if remaining is None:
            return await awaitable
        if sys.version_info >= (3, 11):
            # In this task (its context variables stay shared with the caller's): the timeout
            # cancels the awaited coroutine at the deadline and waits for its clean-up.
            timeout = asyncio.timeout(remaining)
            try:
                async with timeout:
                    result = await awaitable
            except TimeoutError:
                if timeout.expired():
                    raise _DeadlineReached(self.deadline_reached(number)) from None
                raise  # the work's own TimeoutError, not the guard's
            if timeout.expired():  # the work swallowed the cancellation
                raise _DeadlineReached(self.deadline_reached(number))
            return result
        # Python 3.10: the work runs as a task of its own, cancelled at the deadline.
        task = asyncio.ensure_future(awaitable)
        try:
            done, _ = await asyncio.wait({task}, timeout=remaining)
        except BaseException:
            task.cancel()
            raise
        if not done:
            task.cancel()
            await asyncio.wait({task})  # its clean-up, as asyncio.timeout waits for it
            if not task.cancelled():
                task.exception()  # retrieved: not reported as never retrieved
            raise _DeadlineReached(self.deadline_reached(number))
        return task.result()

    def run_step_sync(self, name: str, arguments: Any, fn: Callable[[], T]) -> T:
        """The blocking twin of :meth:`run_step` for a plain function: begins the step, calls
        ``fn()`` and finishes the step with its result or exception, as ``run_step`` does.

        A running Python function cannot be cancelled: one still running at the deadline runs
        to its end, and the run is stopped then (:class:`GuardStoppedError`, ``max_time``,
        raised instead of its result). Use ``run_step`` with a coroutine for a hard deadline.
        """
        number = self.begin_step(name, arguments)
        try:
            result = fn()
        except Exception as exc:
            self._finish_failed(number, exc)
            raise
        except BaseException as exc:
            self._finish_interrupted(number, exc)
            raise
        if inspect.isawaitable(result):
            _close(result)
            error = TypeError("run_step_sync: fn returned an awaitable; use `await guard.run_step(...)`")
            self._finish_failed(number, error)
            raise error
        self.finish_step(number, result)
        return result

    def _finish_failed(self, number: int, exc: Exception) -> None:
        """The step failed with `exc`: a stop this completes (a loop) is raised from it."""
        try:
            self.finish_step(number, error=exc)
        except GuardStoppedError as stop:
            raise stop from exc

    def _finish_interrupted(self, number: int, exc: BaseException) -> None:
        """The step was cut short from outside (task cancelled, Ctrl-C): recorded as failed;
        the interruption, not a stop, is what goes on."""
        error: BaseException | Mapping[str, str] = _CANCELLED if isinstance(exc, asyncio.CancelledError) else exc
        try:
            self.finish_step(number, error=error)
        except GuardStoppedError:
            pass

    async def chat(self, client: Client, request: Mapping[str, Any] | None = None, **kwargs: Any) -> ChatResponse:
        """One chat request through `client` (the request as ``Client.chat`` takes it) as an LLM
        call of this run: refused once the run is stopped, cancelled in the engine at the
        deadline (:class:`GuardStoppedError`, reason ``max_time``), and recorded with its
        duration, tokens and cost. It is not a step: the event log attributes it to the step
        in progress (or the last one begun)."""
        return await super().chat(client, request, **kwargs)


class _DeadlineReached(Exception):
    """Carries the guard's stop out of the timeout block."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error
