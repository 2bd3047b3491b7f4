"""Resilience overhead from Python, side by side with what users would pick instead:
`pybreaker` for the circuit breaker and `aiolimiter` for rate limits.

Every figure is the cost of admission and bookkeeping around a call that does nothing, in ns
per call, best of several runs. Ratios > 1 mean trinity-core is faster. The limits are set
high enough that nothing is ever rejected or waits: this is the fast path every call takes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pybreaker
from aiolimiter import AsyncLimiter

import trinity_core as tc

N = 200_000
RUNS = 5


def best_ns(fn: Callable[[int], object], n: int = N, runs: int = RUNS) -> float:
    """ns per iteration of `fn(n)`, which loops n times."""
    times = []
    for _ in range(runs):
        t = time.perf_counter_ns()
        fn(n)
        times.append(time.perf_counter_ns() - t)
    return min(times) / n


def best_ns_async(fn: Callable[[int], Awaitable[object]], n: int = N, runs: int = RUNS) -> float:
    async def timed() -> float:
        times = []
        for _ in range(runs):
            t = time.perf_counter_ns()
            await fn(n)
            times.append(time.perf_counter_ns() - t)
        return min(times) / n

    return asyncio.run(timed())


def row(label: str, ours: float, other: str, theirs: float | None) -> None:
    line = f"  {label:<44} trinity {ours:>8.0f} ns/call"
    if theirs is not None:
        line += f"   {other:<12} {theirs:>8.0f} ns/call   ratio {theirs / ours:5.2f}x"
    print(line)


def bench_breaker() -> None:
    print("circuit breaker, a sync call through the breaker (closed, never tripping):")
    ours = tc.CircuitBreaker("bench", window_size=100, minimum_calls=100)
    theirs = pybreaker.CircuitBreaker(fail_max=1_000_000, reset_timeout=60)

    def work() -> int:
        return 1

    ours_work = ours(work)
    theirs_work = theirs(work)

    def bare(n: int) -> None:
        for _ in range(n):
            work()

    def ours_decorated(n: int) -> None:
        for _ in range(n):
            ours_work()

    def theirs_decorated(n: int) -> None:
        for _ in range(n):
            theirs_work()

    def ours_call(n: int) -> None:
        acquire, record = ours.acquire, ours.record
        for _ in range(n):
            t = acquire()
            work()
            record(t)

    def theirs_call(n: int) -> None:
        call = theirs.call
        for _ in range(n):
            call(work)

    def ours_acquire(n: int) -> None:
        acquire = ours.acquire
        for _ in range(n):
            acquire()

    base = best_ns(bare)
    row("decorated function (@breaker)", best_ns(ours_decorated), "pybreaker", best_ns(theirs_decorated))
    row("acquire() + record() vs pybreaker .call()", best_ns(ours_call), "pybreaker", best_ns(theirs_call))
    row("acquire() alone (the native call)", best_ns(ours_acquire), "", None)
    print(f"  (the bare function call costs {base:.0f} ns and is included in the rows that call it)")

    async def coro() -> int:
        return 1

    guarded = ours(coro)

    async def ours_async(n: int) -> None:
        for _ in range(n):
            await guarded()

    async def bare_async(n: int) -> None:
        for _ in range(n):
            await coro()

    row("decorated coroutine (@breaker async def)", best_ns_async(ours_async), "bare await", best_ns_async(bare_async))


def bench_limiter() -> None:
    print("rate limiter, admission of one request (limit never reached):")
    huge = 10**12

    def ours_try(n: int) -> None:
        lim = tc.RateLimiter(rpm=huge, window_s=60)
        try_acquire = lim.try_acquire
        for _ in range(n):
            try_acquire()

    async def ours_async_with(n: int) -> None:
        lim = tc.RateLimiter(rpm=huge, window_s=60)
        for _ in range(n):
            async with lim:
                pass

    async def ours_await(n: int) -> None:
        lim = tc.RateLimiter(rpm=huge, window_s=60)
        for _ in range(n):
            await lim.acquire()

    async def theirs_async_with(n: int) -> None:
        lim = AsyncLimiter(max_rate=huge, time_period=60)
        for _ in range(n):
            async with lim:
                pass

    theirs = best_ns_async(theirs_async_with)
    row("try_acquire() (sync)", best_ns(ours_try), "aiolimiter", theirs)
    row("async with limiter:", best_ns_async(ours_async_with), "aiolimiter", theirs)
    row("await limiter.acquire()", best_ns_async(ours_await), "aiolimiter", theirs)


def bench_queue() -> None:
    print("request queue, a no-op coroutine through a free slot:")

    async def noop() -> None:
        return None

    async def ours(n: int) -> None:
        q = tc.RequestQueue(max_concurrency=8)
        for _ in range(n):
            await q.submit(noop)

    async def semaphore(n: int) -> None:
        sem = asyncio.Semaphore(8)
        for _ in range(n):
            async with sem:
                await noop()

    row("await queue.submit(fn)", best_ns_async(ours, N // 4), "asyncio.Semaphore", best_ns_async(semaphore, N // 4))


def main() -> None:
    print(f"trinity-core {tc.__version__}, {N:,} calls per run, best of {RUNS}; ratio = theirs / ours\n")
    bench_breaker()
    print()
    bench_limiter()
    print()
    bench_queue()


if __name__ == "__main__":
    main()
