"""Resilience for asyncio code: the core's circuit breaker, rate limiter, request queue and
retry policy, with Python's control flow mapped onto them.

    breaker = CircuitBreaker("llm", window_size=20, minimum_calls=10, failure_rate_threshold=0.5)

    @breaker
    async def ask(prompt: str) -> str: ...

    async with breaker:
        ...

    queue = LLMQueue(max_concurrency=8, breaker=breaker)
    answer = await queue.submit(ask, "hi", retry=True, attempts=6, base=1.0, cap=30.0)

Every decision (admit, trip, probe, wait, retry or give up, how long to back off) is the
core's; this module only turns exceptions, cancellation and ``await`` into its calls.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Literal, ParamSpec, TypeVar, Union, overload

from trinity_core import _native
from trinity_core._native import Admission, BreakerTicket, QueuePermit, RetryPolicy, is_retryable

__all__ = [
    "Admission",
    "BreakerTicket",
    "CircuitBreaker",
    "LLMQueue",
    "QueuePermit",
    "RateLimiter",
    "RequestQueue",
    "RetryPolicy",
    "is_retryable",
]

P = ParamSpec("P")
T = TypeVar("T")
B = TypeVar("B", bound="CircuitBreaker")
L = TypeVar("L", bound="RateLimiter")

Outcome = Literal["success", "failure", "cancelled"]
Work = Union[Awaitable[T], Callable[[], Awaitable[T]]]  # noqa: UP007 - subscriptable as Work[T] on 3.10

# The breakers entered by `with` / `async with` in this context and their tickets, innermost
# last: one entry per block, so one breaker serves any number of concurrent tasks.
_entered: contextvars.ContextVar[tuple[tuple[CircuitBreaker, BreakerTicket], ...]] = contextvars.ContextVar(
    "trinity_core_breakers_entered", default=()
)


def _close(work: object) -> None:
    """A coroutine that will never run is closed, so Python does not warn it was never awaited."""
    if inspect.iscoroutine(work):
        work.close()


class CircuitBreaker(_native.CircuitBreaker):
    """The core's circuit breaker, usable as ``async with breaker:`` / ``with breaker:``, as a
    decorator of coroutine functions and plain functions, or through ``acquire``/``record``.

    An exception counts as a failure unless it is one of ``exclude`` (or a cancellation:
    ``asyncio.CancelledError``, ``trinity_core.CancelledError``, ``KeyboardInterrupt``),
    which count as neither success nor failure. A rejected call raises ``CircuitOpenError``.
    """

    def outcome_of(self, exc: BaseException | None) -> Outcome:
        """The outcome a call ending with `exc` (None: returned normally) records."""
        if exc is None:
            return "success"
        if not isinstance(exc, Exception) or isinstance(exc, _native.CancelledError) or isinstance(exc, self.exclude):
            return "cancelled"
        return "failure"

    def _enter(self) -> None:
        ticket = self.acquire()
        _entered.set((*_entered.get(), (self, ticket)))

    def _exit(self, exc: BaseException | None) -> None:
        entered = _entered.get()
        for i in range(len(entered) - 1, -1, -1):
            if entered[i][0] is self:
                _entered.set(entered[:i] + entered[i + 1 :])
                self.record(entered[i][1], self.outcome_of(exc))
                return
        raise RuntimeError("CircuitBreaker exited without a matching enter in this context")

    async def __aenter__(self: B) -> B:
        self._enter()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._exit(exc)

    def __enter__(self: B) -> B:
        self._enter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._exit(exc)

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]: ...
    @overload
    def __call__(self, fn: Callable[P, T]) -> Callable[P, T]: ...
    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        """``@breaker``: every call of `fn` goes through the breaker."""
        if inspect.iscoroutinefunction(fn):

            async def guarded_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                ticket = self.acquire()
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    self.record(ticket, self.outcome_of(exc))
                    raise
                self.record(ticket, "success")
                return result

            return functools.wraps(fn)(guarded_async)

        def guarded(*args: P.args, **kwargs: P.kwargs) -> Any:
            ticket = self.acquire()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                self.record(ticket, self.outcome_of(exc))
                raise
            if hasattr(result, "__await__"):
                # A plain function handing back an awaitable (`lambda: client.chat(...)`):
                # the call ends when that is awaited.
                return self._settle(ticket, result)
            self.record(ticket, "success")
            return result

        return functools.wraps(fn)(guarded)

    async def call(self, work: Work[T]) -> T:
        """Awaits `work` (an awaitable, or a function returning one) through the breaker."""
        try:
            ticket = self.acquire()
        except BaseException:
            _close(work)
            raise
        try:
            awaitable = work() if callable(work) else work
        except BaseException as exc:
            self.record(ticket, self.outcome_of(exc))
            raise
        return await self._settle(ticket, awaitable)

    async def _settle(self, ticket: BreakerTicket, awaitable: Awaitable[T]) -> T:
        try:
            result = await awaitable
        except BaseException as exc:
            self.record(ticket, self.outcome_of(exc))
            raise
        self.record(ticket, "success")
        return result


class RateLimiter(_native.RateLimiter):
    """The core's rate limiter: ``try_acquire`` admits now or raises ``RateLimitedError``
    (``details["retry_after_ms"]``); ``await acquire()`` and ``async with limiter:`` wait in line."""

    async def acquire(self, tokens: int = 1) -> Admission:
        return await super().acquire(tokens)

    async def __aenter__(self: L) -> L:
        await _native.RateLimiter.acquire(self, 1)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class RequestQueue(_native.RequestQueue):
    """The core's priority queue with bounded concurrency: ``await submit(work, priority)`` runs
    `work` once one of ``max_concurrency`` slots is free. A full queue raises ``RateLimitedError``."""

    async def submit(self, work: Work[T], priority: int = 0) -> T:
        """Runs `work` (an awaitable, or a function returning one) in a slot and returns its result.
        Cancelling the caller while it waits leaves the queue; while it runs, frees the slot."""
        try:
            permit = await self.acquire(priority)
        except BaseException:
            _close(work)
            raise
        with permit:
            return await (work() if callable(work) else work)


class LLMQueue:
    """Seed 002's ``LLMQueue``: LLM calls under bounded concurrency, retried on transient errors.

    ``submit(fn, *args, retry=False, attempts=6, base=1.0, cap=30.0, priority=0, **kwargs)`` runs
    ``fn(*args, **kwargs)`` in a queue slot. With ``retry=True``, a failure the core calls retryable
    (``RateLimitedError``, ``TimeoutError``, ``NetworkError``, 5xx ``ProviderError``; or one of
    ``retry_on``) is retried after the core's full-jitter backoff (``base * 2**n`` capped at
    ``cap`` seconds, or the error's Retry-After), for ``attempts`` attempts in all. The slot is
    released while it backs off. With ``breaker``, every attempt goes through it.
    """

    def __init__(
        self,
        max_concurrency: int = 8,
        max_length: int = 10_000,
        aging_ms: int = 5_000,
        *,
        breaker: CircuitBreaker | None = None,
        retry_on: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.queue = RequestQueue(max_concurrency=max_concurrency, max_length=max_length, aging_ms=aging_ms)
        self.breaker = breaker
        self.retry_on = retry_on
        self._policies: dict[tuple[int, float, float], RetryPolicy] = {}

    def policy(self, attempts: int, base: float, cap: float) -> RetryPolicy:
        """The core retry policy for these numbers (made once, then reused)."""
        key = (attempts, base, cap)
        policy = self._policies.get(key)
        if policy is None:
            policy = self._policies[key] = RetryPolicy(max_attempts=attempts, base=base, cap=cap)
        return policy

    async def submit(
        self,
        fn: Callable[..., Awaitable[T]],
        *args: Any,
        retry: bool = False,
        attempts: int = 6,
        base: float = 1.0,
        cap: float = 30.0,
        priority: int = 0,
        **kwargs: Any,
    ) -> T:
        policy = self.policy(attempts if retry else 1, base, cap)
        attempt, prev = 1, None
        while True:
            try:
                return await self.queue.submit(functools.partial(self._attempt, fn, args, kwargs), priority)
            except Exception as exc:
                retryable = True if self.retry_on and isinstance(exc, self.retry_on) else None
                decision = policy.decide(exc, attempt, prev, retryable)
                if decision is exc:
                    raise
                if isinstance(decision, BaseException):
                    raise decision from exc
                delay = prev = decision
            await asyncio.sleep(delay)
            attempt += 1

    async def _attempt(self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        if self.breaker is None:
            return await fn(*args, **kwargs)
        return await self.breaker.call(functools.partial(fn, *args, **kwargs))

    def __len__(self) -> int:
        return len(self.queue)

    def snapshot(self) -> dict[str, Any]:
        return dict(self.queue.snapshot())
