"""Cost accounting from Python, side by side with LiteLLM: `CostTracker.track_request` (price
from the registry + add to the per-minute totals) against `litellm.completion_cost` (price
only) and `litellm.cost_per_token`, plus a `RequestLog.record` for scale.

ns per call, best of several runs. Ratios > 1 mean trinity-core is faster.

Then the metrics export: a client holding ~1,000 series, served by a `prometheus_client`
registry through `trinity_core.metrics.register`, against the same series kept in
prometheus_client's own counters, gauges and histograms; ms per `generate_latest`.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

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
    metrics_export()


# A series is one sample line, as Prometheus counts them: each bucket, `_sum` and `_count` of a
# histogram is one. Real calls against the mock server make them: each new model adds its
# requests, tokens, cost and breaker series and three histograms (duration, input and output
# tokens) of ~17 lines each.
SERIES = 1_000
SCRAPES = 300


def sample_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def native_twin(text: str) -> Any:
    """The same families, label sets and buckets in prometheus_client's own metrics."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    registry = CollectorRegistry()
    for f in text_string_to_metric_families(text):  # type: ignore[no-untyped-call]
        names = [k for k in (f.samples[0].labels if f.samples else {}) if k != "le"]
        if f.type == "histogram":
            bounds = sorted({float(s.labels["le"]) for s in f.samples if s.name.endswith("_bucket")} - {float("inf")})
            h = Histogram(f.name, f.documentation, names, registry=registry, buckets=bounds)
            for s in f.samples:
                if s.name.endswith("_count"):
                    (h.labels(**s.labels) if names else h).observe(s.value)
        elif f.type == "counter":
            c = Counter(f.name, f.documentation, names, registry=registry)
            for s in f.samples:
                (c.labels(**s.labels) if names else c).inc(s.value)
        else:
            g = Gauge(f.name, f.documentation, names, registry=registry)
            for s in f.samples:
                (g.labels(**s.labels) if names else g).set(s.value)
    return registry


def metrics_export() -> None:
    import prometheus_client
    from prometheus_client import CollectorRegistry, generate_latest

    from trinity_core.testing import MockServer

    # Neither side then writes `_created` lines: the engine's text has none.
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    with MockServer(seed=1) as server:
        client = tc.Client({"providers": {"p": {"kind": "openai", "base_url": server.url + "/v1", "api_key": "k"}}})
        i = 0
        while sample_lines(client.metrics_text()) < SERIES:
            client.chat_sync({"model": f"p/model-{i}", "messages": [{"role": "user", "content": "hi"}]})
            i += 1
        ours = CollectorRegistry()
        tc.metrics.register(client, ours)
        twin = native_twin(client.metrics_text())
        series = sample_lines(generate_latest(ours).decode())
        twin_series = sample_lines(generate_latest(twin).decode())
        # Turns taken, so a busy machine slows each alike.
        times: dict[str, list[float]] = {k: [] for k in ("text", "ours", "twin", "ours_collect", "twin_collect")}
        scrapes = {
            "text": client.metrics_text,
            "ours": lambda: generate_latest(ours),
            "twin": lambda: generate_latest(twin),
            # What the bridge itself costs: the registry's collect, before prometheus_client renders.
            "ours_collect": lambda: list(ours.collect()),
            "twin_collect": lambda: list(twin.collect()),
        }
        for n in range(-20, SCRAPES):
            for key, scrape in scrapes.items():
                t = time.perf_counter()
                scrape()
                if n >= 0:
                    times[key].append((time.perf_counter() - t) * 1000)
        ms = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"\nmetrics export to prometheus_client, {series} series (its own: {twin_series}), median of {SCRAPES} scrapes:"
    )
    print(f"  {'client.metrics_text() alone':<48} {ms['text']:7.3f} ms")
    print(f"  {'metrics.register -> generate_latest(registry)':<48} {ms['ours']:7.3f} ms/scrape")
    print(
        f"  {'prometheus_client own metrics, same series':<48} {ms['twin']:7.3f} ms/scrape"
        f"   ratio {ms['twin'] / ms['ours']:.2f}x"
    )
    print(f"  {'collect() alone, ours':<48} {ms['ours_collect']:7.3f} ms/scrape")
    print(
        f"  {'collect() alone, prometheus_client own':<48} {ms['twin_collect']:7.3f} ms/scrape"
        f"   ratio {ms['twin_collect'] / ms['ours_collect']:.2f}x"
    )
    print(
        f"  the bridge under 1 ms a scrape: {'yes' if ms['ours_collect'] <= 1 else 'NO'} ({ms['ours_collect']:.3f} ms)"
    )
    print(
        f"  the rest of generate_latest is prometheus_client rendering text: {ms['ours'] - ms['ours_collect']:.3f} ms"
    )


if __name__ == "__main__":
    main()
