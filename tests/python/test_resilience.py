"""Resilience from Python: the core's breaker, limiter, queue and retry policy, and the asyncio
sugar over them (``async with``, decorators, ``LLMQueue.submit``). Deterministic: outcomes are
counted, never timed; the few waits use tiny windows and wait on state, not on the clock."""

from __future__ import annotations

import asyncio
import functools
import gc
import sys
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import trinity_core as tc


def breaker(**fields: Any) -> tc.CircuitBreaker:
    settings: dict[str, Any] = {"window_size": 20, "minimum_calls": 10, "failure_rate_threshold": 0.5}
    return tc.CircuitBreaker("test", **{**settings, **fields})


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.001)


async def until_async(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.001)


# --- circuit breaker ---------------------------------------------------------------------------


def test_breaker_opens_at_exactly_call_10() -> None:
    b = breaker()
    changes: list[dict[str, Any]] = []
    b.on_state_change(lambda c: changes.append(dict(c)))
    for call in range(1, 10):
        b.record(b.acquire(), "failure")
        assert b.state == "closed", f"opened early, at call {call}"
    b.record(b.acquire(), "failure")
    assert b.state == "open"
    assert changes == [{"breaker": "test", "from": "closed", "to": "open", "failure_rate": 1.0, "slow_call_rate": 0.0}]
    with pytest.raises(tc.CircuitOpenError) as info:
        b.acquire()
    assert info.value.code == "circuit_open"
    assert info.value.details is not None
    assert info.value.details["state"] == "open" and info.value.details["breaker"] == "test"
    assert 0 < info.value.details["retry_after_ms"] <= 30_000
    snap = b.snapshot()
    assert snap["state"] == "open" and snap["not_permitted"] == 1


def test_breaker_stays_closed_below_the_threshold() -> None:
    b = breaker()
    for i in range(40):
        b.record(b.acquire(), "failure" if i % 3 == 0 else "success")
    assert b.state == "closed"
    assert b.snapshot()["calls"] == 20


def test_a_ticket_is_recorded_once_and_outcomes_are_checked() -> None:
    b = breaker()
    t = b.acquire()
    with pytest.raises(tc.InvalidInputError):
        b.record(t, "maybe")  # type: ignore[arg-type]
    b.record(t)
    with pytest.raises(tc.InvalidInputError):
        b.record(t, "failure")
    assert b.snapshot()["calls"] == 1 and b.snapshot()["failures"] == 0


def test_decorator_records_outcomes_of_coroutines_and_functions() -> None:
    class Ignored(Exception):
        pass

    b = breaker(exclude=(Ignored,))
    seen: list[int] = []

    @b
    async def work(x: int, fail: type[BaseException] | None = None) -> int:
        seen.append(x)
        if fail is not None:
            raise fail("no")
        return x * 2

    @b
    def plain(x: int) -> int:
        if x < 0:
            raise ValueError(x)
        return x + 1

    @b
    def hands_back(fail: bool) -> Awaitable[str]:
        return work(-1, ValueError) if fail else asyncio.sleep(0, "later")

    async def main() -> None:
        assert await work(2) == 4
        with pytest.raises(ValueError):
            await work(3, ValueError)
        with pytest.raises(Ignored):
            await work(4, Ignored)
        assert plain(1) == 2
        with pytest.raises(ValueError):
            plain(-1)
        # An awaitable handed back by a plain function is recorded when awaited; the inner
        # decorated `work` records its own outcome too.
        assert await hands_back(False) == "later"
        with pytest.raises(ValueError):
            await hands_back(True)

    asyncio.run(main())
    assert work.__name__ == "work" and seen == [2, 3, 4, -1]
    snap = b.snapshot()
    assert (snap["calls"], snap["failures"]) == (7, 4)


def test_context_manager_records_and_cancellation_records_nothing() -> None:
    b = breaker()

    async def main() -> None:
        async with b:
            pass
        with pytest.raises(KeyError):
            async with b:
                raise KeyError("x")
        # Nested blocks of one breaker record one outcome each, innermost first.
        async with b:
            with pytest.raises(RuntimeError):
                async with b:
                    raise RuntimeError("inner")

        # Many tasks share the breaker at once.
        async def one() -> None:
            async with b:
                await asyncio.sleep(0)

        await asyncio.gather(*(one() for _ in range(10)))
        before = b.snapshot()
        started = asyncio.Event()

        async def hangs_in_block() -> None:
            async with b:
                started.set()
                await asyncio.Event().wait()

        @b
        async def hangs_decorated() -> None:
            started.set()
            await asyncio.Event().wait()

        for hangs in (hangs_in_block, hangs_decorated):
            started.clear()
            task = asyncio.create_task(hangs())
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert b.snapshot() == before

    asyncio.run(main())
    snap = b.snapshot()
    assert (snap["calls"], snap["failures"]) == (14, 2)
    with b:
        pass
    assert b.snapshot()["calls"] == 15


def test_an_open_breaker_rejects_without_calling() -> None:
    b = breaker()
    b.set_state("forced_open")
    calls = 0

    @b
    async def work() -> None:
        nonlocal calls
        calls += 1

    async def main() -> None:
        with pytest.raises(tc.CircuitOpenError):
            await work()
        with pytest.raises(tc.CircuitOpenError):
            async with b:
                pass
        coro = asyncio.sleep(0)
        with pytest.raises(tc.CircuitOpenError):
            await b.call(coro)  # closed for us: no "never awaited" warning

    asyncio.run(main())
    assert calls == 0 and b.state == "forced_open"


def test_half_open_probes_close_or_reopen() -> None:
    b = breaker(half_open_calls=3)
    b.set_state("half_open")
    probes = [b.acquire() for _ in range(3)]
    with pytest.raises(tc.CircuitOpenError):
        b.acquire()
    # A cancelled probe frees its slot.
    b.record(probes.pop(), "cancelled")
    probes.append(b.acquire())
    for p in probes:
        b.record(p, "success")
    assert b.state == "closed"

    b.set_state("half_open")
    probes = [b.acquire() for _ in range(3)]
    b.record(probes[0], "failure")
    b.record(probes[1], "failure")
    b.record(probes[2], "success")
    assert b.state == "open"


def test_open_breaker_lets_probes_through_after_its_wait() -> None:
    b = breaker(open_wait_ms=5, half_open_calls=1)
    changes: list[tuple[str, str]] = []
    b.on_state_change(lambda c: changes.append((c["from"], c["to"])))
    b.set_state("open")
    until(lambda: b.state == "half_open", "the open wait ends")
    b.record(b.acquire(), "success")
    assert b.state == "closed"
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_breaker_config_from_a_config_and_disabled() -> None:
    cfg = tc.Config({"breaker": {"window_size": 4, "minimum_calls": 2}}, env=False)
    b = tc.CircuitBreaker("c", cfg, failure_rate_threshold=0.75)
    b.record(b.acquire(), "success")
    b.record(b.acquire(), "failure")
    b.record(b.acquire(), "failure")
    assert b.state == "closed"  # 2 of 3 failed, under 0.75
    b.record(b.acquire(), "failure")
    assert b.state == "open"  # 3 of 4: window_size and minimum_calls came from the Config
    off = tc.CircuitBreaker("off", enabled=False)
    assert off.state == "disabled"
    for _ in range(50):
        off.record(off.acquire(), "failure")
    assert off.state == "disabled"


def test_a_failing_state_listener_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    b = breaker(minimum_calls=1, window_size=1)
    reported: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)

    def boom(change: Any) -> None:
        raise RuntimeError("listener")

    b.on_state_change(boom)
    b.record(b.acquire(), "failure")
    assert b.state == "open"
    assert len(reported) == 1 and isinstance(reported[0].exc_value, RuntimeError)


def test_a_callback_that_refers_to_its_breaker_is_collected() -> None:
    class Owner:
        def __init__(self) -> None:
            self.breaker = tc.CircuitBreaker("owned")
            self.breaker.on_state_change(self.log)

        def log(self, change: Any) -> None:
            pass

    owner = Owner()
    ref = weakref.ref(owner)
    del owner
    gc.collect()
    assert ref() is None


# --- rate limiter ------------------------------------------------------------------------------


def test_limiter_admits_rpm_then_raises_with_retry_after() -> None:
    lim = tc.RateLimiter(rpm=5, window_s=60)
    for _ in range(5):
        assert lim.try_acquire().tokens == 1
    with pytest.raises(tc.RateLimitedError) as info:
        lim.try_acquire()
    assert info.value.code == "rate_limited"
    assert info.value.details is not None and 0 < info.value.details["retry_after_ms"] <= 60_000
    assert 0 < lim.retry_after(1) <= 60
    snap = lim.snapshot()
    assert (snap["admitted"], snap["rejected"], snap["remaining_requests"]) == (5, 1, 0)


def test_limiter_tokens_reconcile_and_oversized_requests() -> None:
    lim = tc.RateLimiter(tpm=100)
    a = lim.try_acquire(80)
    with pytest.raises(tc.RateLimitedError):
        lim.try_acquire(30)
    lim.reconcile(a, 50)
    lim.try_acquire(30)
    assert lim.snapshot()["tokens_in_window"] == 80
    with pytest.raises(tc.RateLimitedError) as info:
        lim.try_acquire(101)
    assert info.value.details is not None and info.value.details["retryable"] is False
    assert not tc.is_retryable("rate_limited", info.value.details)
    unlimited = tc.RateLimiter()
    for _ in range(1000):
        unlimited.try_acquire(10**6)


def test_limiter_acquire_waits_in_line() -> None:
    lim = tc.RateLimiter(rpm=1, window_s=0.05)

    async def main() -> None:
        lim.try_acquire()
        admission = await lim.acquire()  # waits for the window to move on
        assert admission.tokens == 1
        async with lim:
            pass
        task = asyncio.ensure_future(lim.acquire(1))
        assert (await task).tokens == 1

    asyncio.run(main())
    assert lim.snapshot()["admitted"] == 4


def test_a_cancelled_acquire_leaves_the_line() -> None:
    lim = tc.RateLimiter(rpm=1, window_s=60)

    async def main() -> None:
        lim.try_acquire()
        task = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0.01)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        lim.set_limit(rpm=2, window_s=60)
        await until_async(lambda: _admits(lim), "the line frees")

    asyncio.run(main())
    assert lim.snapshot()["admitted"] == 2


def test_sync_twins_block_without_the_gil() -> None:
    lim = tc.RateLimiter(rpm=1, window_s=0.05)
    lim.try_acquire()
    assert lim.acquire_sync().tokens == 1
    q = tc.RequestQueue(max_concurrency=1)
    held = q.acquire_sync()
    got: list[tc.QueuePermit] = []
    waiter = threading.Thread(target=lambda: got.append(q.acquire_sync(priority=1)))
    waiter.start()
    until(lambda: len(q) == 1, "the thread waits")  # runs while the waiter blocks: the GIL is free
    held.release()
    waiter.join(10)
    assert len(got) == 1 and q.in_flight == 1
    with got[0]:
        pass
    assert q.in_flight == 0


def _admits(lim: tc.RateLimiter) -> bool:
    try:
        lim.try_acquire()
        return True
    except tc.RateLimitedError:
        return False


# --- request queue -----------------------------------------------------------------------------


def test_queue_bound_respected_with_concurrency_8_and_cancellations() -> None:
    q = tc.RequestQueue(max_concurrency=8, max_length=100)
    running = peak = done = 0
    gate = asyncio.Event()

    async def work(i: int) -> int:
        nonlocal running, peak, done
        running += 1
        peak = max(peak, running)
        try:
            await gate.wait()
            await asyncio.sleep(0)
        finally:
            running -= 1
        done += 1
        return i

    async def main() -> list[Any]:
        tasks = [asyncio.create_task(q.submit(functools.partial(work, i), priority=i % 3)) for i in range(40)]
        await until_async(lambda: q.in_flight == 8 and len(q) == 32 and running == 8, "8 run, 32 wait")
        for t in tasks[30:]:  # 10 waiting
            t.cancel()
        for t in tasks[:2]:  # 2 running
            t.cancel()
        # The freed slots go to the next waiters, whose tasks then start running.
        await until_async(lambda: q.in_flight == 8 and q.len() == 20 and running == 8, "slots handed on")
        gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    cancelled = [r for r in results if isinstance(r, asyncio.CancelledError)]
    assert len(cancelled) == 12 and done == 28 and peak == 8
    assert sorted(r for r in results if isinstance(r, int)) == list(range(2, 30))
    gc.collect()
    snap = q.snapshot()
    assert (snap["in_flight"], snap["length"], snap["max_concurrency"]) == (0, 0, 8)
    assert snap["cancelled"] == 10 and snap["completed"] == 30


def test_queue_takes_awaitables_and_rejects_when_full() -> None:
    q = tc.RequestQueue(max_concurrency=1, max_length=1)

    async def main() -> None:
        assert await q.submit(asyncio.sleep(0, "ok")) == "ok"
        gate = asyncio.Event()
        first = asyncio.create_task(q.submit(gate.wait))
        await until_async(lambda: q.in_flight == 1, "first runs")
        second = asyncio.create_task(q.submit(asyncio.sleep(0, "second")))
        await until_async(lambda: len(q) == 1, "second waits")
        with pytest.raises(tc.RateLimitedError) as info:
            await q.submit(asyncio.sleep(0))
        assert info.value.details is not None and info.value.details["queue_full"] is True
        gate.set()
        assert await first is True and await second == "second"

    asyncio.run(main())
    assert q.snapshot()["rejected"] == 1


# --- retries and LLMQueue ----------------------------------------------------------------------


def flaky(failures: list[BaseException]) -> tuple[Callable[..., Awaitable[str]], list[tuple[Any, ...]]]:
    calls: list[tuple[Any, ...]] = []

    async def call(*args: Any, **kwargs: Any) -> str:
        calls.append((*args, *sorted(kwargs.items())))
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return "ok"

    return call, calls


def err(cls: type[tc.TrinityError], **details: Any) -> tc.TrinityError:
    e = cls("upstream says no")
    e.details = details or None
    return e


FAST: dict[str, Any] = {"base": 0.001, "cap": 0.002}


def test_llm_queue_retries_a_flaky_coroutine() -> None:
    q = tc.LLMQueue(max_concurrency=2)
    fn, calls = flaky([err(tc.NetworkError), err(tc.ProviderError, status=503), err(tc.RateLimitedError)])
    result = asyncio.run(q.submit(fn, "prompt", retry=True, attempts=6, temperature=0, **FAST))
    assert result == "ok" and len(calls) == 4
    assert calls[0] == ("prompt", ("temperature", 0))
    assert q.snapshot()["completed"] == 4


def test_llm_queue_gives_up() -> None:
    async def main() -> None:
        q = tc.LLMQueue(max_concurrency=2)
        for final in (err(tc.InvalidInputError), err(tc.ProviderError, status=400), ValueError("bug")):
            fn, calls = flaky([final])
            with pytest.raises(type(final)):
                await q.submit(fn, retry=True, **FAST)
            assert len(calls) == 1, final
        fn, calls = flaky([err(tc.TimeoutError)] * 10)
        with pytest.raises(tc.TimeoutError):
            await q.submit(fn, retry=True, attempts=3, **FAST)
        assert len(calls) == 3
        fn, calls = flaky([err(tc.TimeoutError)])
        with pytest.raises(tc.TimeoutError):
            await q.submit(fn)  # retry is off by default, as in seed 002
        assert len(calls) == 1
        # A Retry-After beyond the policy's cap is not waited for.
        fn, calls = flaky([err(tc.RateLimitedError, retry_after_ms=3_600_000)])
        with pytest.raises(tc.RateLimitedError) as info:
            await q.submit(fn, retry=True, **FAST)
        assert info.value.details is not None and info.value.details["retry_after_over_cap"] is True
        assert len(calls) == 1

    asyncio.run(main())


def test_llm_queue_retry_on_and_breaker() -> None:
    async def main() -> None:
        q = tc.LLMQueue(retry_on=(ConnectionError,))
        fn, calls = flaky([ConnectionError("reset"), ConnectionError("reset")])
        assert await q.submit(fn, retry=True, **FAST) == "ok" and len(calls) == 3
        b = breaker(minimum_calls=2, window_size=2)
        q = tc.LLMQueue(breaker=b)
        fn, calls = flaky([err(tc.NetworkError)] * 10)
        with pytest.raises(tc.CircuitOpenError):
            await q.submit(fn, retry=True, **FAST)
        assert len(calls) == 2 and b.state == "open"

    asyncio.run(main())


def test_retry_policy_comes_from_the_core() -> None:
    a = tc.RetryPolicy(base=1.0, cap=30.0, seed=7)
    b = tc.RetryPolicy(base=1.0, cap=30.0, seed=7)
    delays = [a.backoff(n) for n in range(10)]
    assert delays == [b.backoff(n) for n in range(10)]
    assert all(0 <= d <= min(30.0, 2.0**n) for n, d in enumerate(delays))
    exact = tc.RetryPolicy(base=0.5, cap=4.0, jitter="none")
    assert [exact.backoff(n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    p = tc.RetryPolicy(max_attempts=3)
    assert p.decide(err(tc.RateLimitedError, retry_after_ms=1500), 1) == 1.5
    e = err(tc.NetworkError)
    assert isinstance(p.decide(e, 1), float) and p.decide(e, 3) is e
    assert p.decide(e, 1, retryable=False) is e
    assert isinstance(p.decide(KeyError("x"), 1, retryable=True), float)
    assert tc.is_retryable("provider", {"status": 503}) and not tc.is_retryable("auth")
    assert tc.is_retryable("provider", {"status": 400, "should_retry": True})
    with pytest.raises(tc.InvalidInputError):
        tc.is_retryable("nope")


# --- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "path"),
    [
        (lambda: tc.CircuitBreaker(failure_rate_threshold=1.5), "breaker.failure_rate_threshold"),
        (lambda: tc.CircuitBreaker(window_size=0), "breaker.window_size"),
        (lambda: tc.CircuitBreaker(window_type="sliding"), "breaker.window_type"),  # type: ignore[arg-type]
        (lambda: tc.CircuitBreaker(config={"half_open_calls": -1}), "breaker.half_open_calls"),
        (lambda: tc.RateLimiter(rpm=0), "rate_limits.default.rpm"),
        (lambda: tc.RateLimiter(tpm=-5, name="openai"), "rate_limits.openai.tpm"),
        (lambda: tc.RateLimiter(rpm=5, window_s=0), "rate_limits.default.window_s"),
        (lambda: tc.RequestQueue(max_concurrency=0), "queue.max_concurrency"),
        (lambda: tc.RetryPolicy(base=-1.0), "retry.base_ms"),
        (lambda: tc.RetryPolicy(jitter="sometimes"), "retry.jitter"),  # type: ignore[arg-type]
    ],
)
def test_bad_config_names_the_field(make: Callable[[], object], path: str) -> None:
    with pytest.raises(tc.ConfigError) as info:
        make()
    assert info.value.code == "config" and isinstance(info.value, ValueError)
    assert info.value.details is not None and info.value.details["path"] == path


def test_exclude_takes_exception_classes_only() -> None:
    assert tc.CircuitBreaker(exclude=KeyError).exclude == (KeyError,)
    with pytest.raises(tc.InvalidInputError):
        tc.CircuitBreaker(exclude=("KeyError",))  # type: ignore[arg-type]
    with pytest.raises(tc.InvalidInputError):
        tc.CircuitBreaker(exclude=int)  # type: ignore[arg-type]


def test_unknown_breaker_field_is_a_config_error() -> None:
    with pytest.raises(tc.ConfigError) as info:
        tc.CircuitBreaker(windw_size=3)  # type: ignore[call-arg]
    assert info.value.details is not None and "windw_size" in str(info.value)
