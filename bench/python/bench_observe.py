"""Cost accounting from Python, side by side with LiteLLM: `CostTracker.track_request` (price
from the registry + add to the per-minute totals) against `litellm.completion_cost` (price
only) and `litellm.cost_per_token`, plus a `RequestLog.record` for scale.

ns per call, best of several runs. Ratios > 1 mean trinity-core is faster.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import trinity_core as tc

N = 200_000
RUNS = 5


def best_ns(fn: Callable[[int], object], n: int = N, runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter_ns()
        fn(n)
        times.append(time.perf_counter_ns() - t)
    return min(times) / n


def row(label: str, ours: float, other: str, theirs: float | None) -> None:
    line = f"  {label:<40} trinity {ours:>8.0f} ns/call"
    if theirs is not None:
        line += f"   {other:<26} {theirs:>9.0f} ns/call   ratio {theirs / ours:6.1f}x"
    print(line)


def main() -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network: its bundled prices
    import litellm

    tracker = tc.CostTracker()
    track = tracker.track_request

    def ours(n: int) -> None:
        for _ in range(n):
            track("gpt-4o-mini", 1200, 300)

    def ours_cached(n: int) -> None:
        for _ in range(n):
            track("claude-sonnet-4-5", 1200, 300, 800)

    response = litellm.ModelResponse(
        model="gpt-4o-mini",
        usage=litellm.Usage(prompt_tokens=1200, completion_tokens=300, total_tokens=1500),
    )

    def theirs(n: int) -> None:
        for _ in range(n):
            litellm.completion_cost(completion_response=response, model="gpt-4o-mini")

    def theirs_per_token(n: int) -> None:
        for _ in range(n):
            litellm.cost_per_token(model="claude-sonnet-4-5", prompt_tokens=1200, completion_tokens=300)

    # Both price the same call alike (gpt-4o-mini: $0.15 / $0.60 per 1M).
    ours_usd = (track("gpt-4o-mini", 1200, 300) or 0) / 1e9
    theirs_usd = litellm.completion_cost(completion_response=response, model="gpt-4o-mini")
    print(f"cost of one gpt-4o-mini call: trinity ${ours_usd:.9f}, litellm ${theirs_usd:.9f}")

    # LiteLLM is far slower per call: fewer iterations keep the run short.
    t_ours = best_ns(ours)
    row("CostTracker.track_request", t_ours, "litellm.completion_cost", best_ns(theirs, n=N // 50))
    row(
        "track_request (claude, cached input)",
        best_ns(ours_cached),
        "litellm.cost_per_token",
        best_ns(theirs_per_token, n=N // 20),
    )

    log = tc.RequestLog(history=1000)
    rec = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "model_requested": "gpt-4o-mini",
        "input_tokens": 1200,
        "output_tokens": 300,
        "cost_nano_usd": 360_000,
        "latency_ms": 120.0,
    }

    def records(n: int) -> None:
        for _ in range(n):
            log.record(rec)

    row("RequestLog.record (ring of 1000)", best_ns(records, n=N // 4), "", None)
    print(f"  track_request under 1 us: {'yes' if t_ours < 1000 else 'NO'} ({t_ours:.0f} ns)")


if __name__ == "__main__":
    main()
