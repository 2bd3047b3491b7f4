"""On/off bars for Python, 50 concurrent against the mock server (a separate process): issue 12's
cost, budget and request log, and issue 14's telemetry (request log, metrics, provider monitor
and logs at info), each against all off. Its own process: LiteLLM's import in bench_client.py
starts threads whose CPU would be counted against either side."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench_client import MESSAGES, run, start_server


async def main() -> None:
    import trinity_core as tc

    proc, url = start_server()
    try:
        await books_overhead(tc, url)
        await telemetry_overhead(tc, url)
    finally:
        proc.kill()
        proc.wait()


async def books_overhead(tc: Any, url: str) -> None:
    """Issue 12's bar: cost, budget and request log on cost at most 5% of throughput (50
    concurrent, a priced model)."""
    provider = {"mock": {"kind": "openai_compatible", "base_url": url + "/v1"}}
    off = tc.Client({"providers": provider, "logging": {"request_log": False}})
    on = tc.Client({"providers": provider, "budget": {"daily_usd": 1000000}, "logging": {"request_log": True}})
    await paired(off, on, "cost + budget + request log on vs off")
    assert len(on.request_log) > 0 and len(off.request_log) == 0


async def telemetry_overhead(tc: Any, url: str) -> None:
    """Issue 14's bar: every part of telemetry on costs at most 5% of throughput. Logs at info
    reach Python's `logging`, which this process leaves unconfigured (as most applications leave
    `trinity_core`'s loggers): records are then not built at all; with a handler that keeps every
    record, Python's own `logging` costs about 10 us a call under the GIL."""
    provider = {"mock": {"kind": "openai_compatible", "base_url": url + "/v1"}}
    off = tc.Client(
        {
            "providers": provider,
            "logging": {"request_log": False, "level": "error"},
            "metrics": {"enabled": False},
            "monitor": {"enabled": False},
        }
    )
    on = tc.Client(
        {
            "providers": provider,
            "logging": {"request_log": True, "level": "info"},
            "metrics": {"enabled": True},
            "monitor": {"enabled": True},
        }
    )
    await paired(off, on, "telemetry (request log, metrics, monitor, logs) on vs off")
    assert "trinity_requests_total" in on.metrics_text() and on.monitor.state("mock") == "healthy"


async def paired(off: Any, on: Any, label: str) -> None:

    def caller(client: Any) -> Callable[[], Awaitable[Any]]:
        # Distinct requests: each goes upstream, is priced, held against the budget and settled.
        n = itertools.count()
        return lambda: client.chat(model="mock/gpt-4o-mini", messages=MESSAGES, user=f"user-{next(n)}")

    for client in (off, on):  # warm-up: connection pools, allocator arenas, the tokenizer's tables
        await run(caller(client), 5_000, 50)
    # Throughput on a shared 2-core machine drifts by tens of percent within a minute, so runs are
    # short and paired: each round times off and on back to back (order alternating: the second
    # pays for the first's garbage) and the verdict is the median of the rounds' ratios.
    rounds, total = 20, 2_000
    rps_ratios: list[float] = []
    cpu_ratios: list[float] = []
    offs: list[float] = []
    ons: list[float] = []
    pair = [off, on]
    for _ in range(rounds):
        pair.reverse()
        got = {}
        for client in pair:
            cpu = time.process_time()  # every thread of this process: Python and the Rust runtime
            rps = await run(caller(client), total, 50)
            got[id(client)] = (rps, (time.process_time() - cpu) / total * 1e6)
        (off_rps, off_cpu), (on_rps, on_cpu) = got[id(off)], got[id(on)]
        rps_ratios.append(on_rps / off_rps)
        cpu_ratios.append(on_cpu / off_cpu)
        offs.append(off_rps)
        ons.append(on_rps)
    print(
        f"  {label}, 50 concurrent ({rounds} paired rounds of {total}): "
        f"off {median(offs):>8.0f} req/s · on {median(ons):>8.0f} req/s · "
        f"on/off {median(rps_ratios):.3f} (bar >= 0.95; rounds {min(rps_ratios):.2f}-{max(rps_ratios):.2f}); "
        f"CPU per request on/off {median(cpu_ratios):.3f}"
    )


def median(xs: list[float]) -> float:
    return statistics.median(xs)


if __name__ == "__main__":
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    asyncio.run(main())
