"""The client over real HTTP: every wire format, streaming, faults, timeouts, cancellation,
all against the mock provider server on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ticks_during

import trinity_core as tc
from trinity_core.testing import MockServer

FIXTURES = {
    "greet": {"prompt": "Say hello", "response": "Hello from the mock server!"},
    "tool": {
        "prompt": "weather?",
        "response": "",
        "tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
    },
}
KINDS = ["openai", "openai_compatible", "anthropic", "gemini"]


def base_url(server: MockServer, kind: str) -> str:
    return server.url + ("/v1beta" if kind == "gemini" else "/v1")


def make_client(server: MockServer, kind: str, retry: dict[str, Any] | None = None, **provider: Any) -> tc.Client:
    cfg = {"kind": kind, "base_url": base_url(server, kind), "api_key": "sk-test", **provider}
    return tc.Client({"providers": {"p": cfg}, "retry": retry or {}})


def ask(text: str, **kw: Any) -> dict[str, Any]:
    return {"model": "p/mock-model", "messages": [{"role": "user", "content": text}], **kw}


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(fixtures=FIXTURES, seed=1) as s:
        yield s


@pytest.mark.parametrize("kind", KINDS)
def test_chat_and_stream_in_every_wire_format(server: MockServer, kind: str) -> None:
    c = make_client(server, kind)
    r = c.chat_sync(ask("Say hello"))
    assert r.content == "Hello from the mock server!"
    assert r.finish_reason == "stop" and r.provider == "p"
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0

    async def stream() -> list[tc.ChatChunk]:
        return [ch async for ch in c.chat_stream(ask("Say hello"))]

    chunks = asyncio.run(stream())
    assert "".join(ch.delta for ch in chunks) == r.content
    assert len([ch for ch in chunks if ch.delta]) > 1, "streamed in pieces"
    assert any(ch.finish_reason == "stop" for ch in chunks)
    assert any(ch.usage is not None and ch.usage.completion_tokens > 0 for ch in chunks)


@pytest.mark.parametrize("kind", KINDS)
def test_tool_calls(server: MockServer, kind: str) -> None:
    c = make_client(server, kind)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    r = c.chat_sync(ask("weather?", tools=tools))
    assert r.finish_reason == "tool_calls"
    assert r.tool_calls[0]["function"]["name"] == "get_weather"
    assert '"Paris"' in r.tool_calls[0]["function"]["arguments"]


@pytest.mark.parametrize(
    "fault, code",
    [
        ("429", "rate_limited"),
        ("500", "provider"),
        ("503", "provider"),
        ("reset", "network"),
        ("malformed", "provider"),
    ],
)
@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
def test_faults_become_stable_codes(kind: str, fault: str, code: str) -> None:
    with MockServer(fixtures=FIXTURES, faults={"script": [fault], "retry_after_ms": 1500}) as s:
        with pytest.raises(tc.TrinityError) as info:
            make_client(s, kind, retry={"max_attempts": 1}).chat_sync(ask("Say hello"))
        assert info.value.code == code
        if fault == "429":
            assert isinstance(info.value, tc.RateLimitedError)
            assert info.value.details is not None
            assert info.value.details["status"] == 429 and info.value.details["retry_after_ms"] == 1500


@pytest.mark.parametrize("fault", ["429", "500", "503", "reset", "malformed"])
def test_retryable_faults_are_retried_by_default(fault: str) -> None:
    with MockServer(fixtures=FIXTURES, faults={"script": [fault, "ok"], "retry_after_ms": 10}) as s:
        r = make_client(s, "openai", retry={"base_ms": 5}).chat_sync(ask("Say hello"))
        assert (r.content, r.attempts) == ("Hello from the mock server!", 2)
        assert s.stats()["requests"] == 2


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
def test_cut_stream_is_an_error_not_a_short_answer(kind: str) -> None:
    with MockServer(fixtures=FIXTURES, faults={"script": ["cut"]}) as s:
        c = make_client(s, kind)
        got: list[str] = []
        with pytest.raises(tc.NetworkError):
            for ch in c.chat_stream_sync(ask("Say hello")):
                got.append(ch.delta)
        assert "".join(got) != "Hello from the mock server!"


def test_wrong_key_is_auth() -> None:
    with MockServer(fixtures=FIXTURES, api_key="sk-right") as s:
        with pytest.raises(tc.AuthError):
            make_client(s, "openai", api_key="sk-wrong").chat_sync(ask("Say hello"))
        assert make_client(s, "openai", api_key="sk-right").chat_sync(ask("Say hello")).content


def test_timeouts() -> None:
    with MockServer(fixtures=FIXTURES, faults={"script": ["timeout", "timeout"], "timeout_hold_ms": 5000}) as s:
        once = {"max_attempts": 1}
        c = make_client(s, "openai", retry=once, timeout_ms=300)
        with pytest.raises(tc.TimeoutError):
            c.chat_sync(ask("Say hello"))
        slow_first = make_client(s, "openai", retry=once, first_token_timeout_ms=200)
        with pytest.raises(tc.TimeoutError):
            list(slow_first.chat_stream_sync(ask("Say hello")))
    with MockServer(fixtures=FIXTURES, latency={"dist": "fixed", "ms": 2000}) as s:
        with pytest.raises(tc.TimeoutError):
            make_client(s, "openai", retry={"max_attempts": 1}).chat_sync(ask("Say hello", timeout_ms=200))


def test_cancelling_the_task_aborts_the_call() -> None:
    with MockServer(fixtures=FIXTURES, latency={"dist": "fixed", "ms": 3000}) as s:
        c = make_client(s, "openai")

        async def run() -> float:
            task = asyncio.create_task(c.chat(ask("Say hello")))
            await asyncio.sleep(0.1)
            started = time.perf_counter()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return time.perf_counter() - started

        run_time = asyncio.run(run())
        assert run_time < 1.0  # returned on cancel, not after the 3 s answer


def test_the_gil_is_released_while_waiting() -> None:
    with MockServer(fixtures=FIXTURES, latency={"dist": "fixed", "ms": 300}) as s:
        c = make_client(s, "openai")
        assert ticks_during(lambda: c.chat_sync(ask("Say hello"))) > 10_000


def test_concurrent_async_calls_share_the_pool(server: MockServer) -> None:
    c = make_client(server, "openai")

    async def run() -> set[str]:
        rs = await asyncio.gather(*(c.chat(ask("Say hello")) for _ in range(256)))
        return {r.content for r in rs}

    assert asyncio.run(run()) == {"Hello from the mock server!"}


def test_a_client_dropped_while_its_call_is_pending_still_delivers_the_answer() -> None:
    with MockServer(fixtures=FIXTURES, latency={"dist": "fixed", "ms": 100}) as s:
        provider = {"kind": "openai", "base_url": base_url(s, "openai"), "api_key": "sk-test"}

        async def run() -> str:
            # The temporary client is gone before the answer arrives.
            r = await asyncio.wait_for(tc.Client({"providers": {"p": provider}}).chat(ask("Say hello")), 10)
            return r.content

        assert asyncio.run(run()) == "Hello from the mock server!"


def test_a_flaky_provider_loses_no_request_the_openai_sdk_would_save() -> None:
    """Issue 10, side by side on one mock server: 20% of requests get HTTP 500 and 5% get 429
    with `Retry-After: 1`; 300 requests at concurrency 32, six attempts each, through the
    official `openai` SDK (`max_retries=5`) and through `Client` (`retry.max_attempts: 6`)."""
    import openai

    faults = {"rates": {"500": 0.20, "429": 0.05}, "retry_after_ms": 1000}

    async def run(call: Any) -> list[BaseException]:
        gate = asyncio.Semaphore(32)

        async def one(i: int) -> BaseException | None:
            async with gate:
                try:
                    await call(i)
                    return None
                except Exception as e:  # noqa: BLE001 - counted, then examined below
                    return e

        results = await asyncio.gather(*(one(i) for i in range(300)))
        return [e for e in results if e is not None]

    def question(i: int) -> list[Any]:
        return [{"role": "user", "content": f"question {i}"}]

    async def through_sdk() -> list[BaseException]:
        sdk = openai.AsyncOpenAI(base_url=s.url + "/v1", api_key="sk-test", max_retries=5)
        return await run(lambda i: sdk.chat.completions.create(model="mock-model", messages=question(i)))

    with MockServer(faults=faults, seed=5) as s:
        sdk_lost = asyncio.run(through_sdk())
        client = tc.Client(
            {
                "providers": {"p": {"kind": "openai", "base_url": s.url + "/v1", "api_key": "sk-test"}},
                "retry": {"max_attempts": 6},
            }
        )
        ours_lost = asyncio.run(run(lambda i: client.chat({"model": "p/mock-model", "messages": question(i)})))
        print(f"lost of 300: openai SDK {len(sdk_lost)}, trinity {len(ours_lost)}")
    # Each SDK request fails only when all six attempts fail (0.25^6 x 300 = 0.07 requests);
    # ours may fail no other way: never stopped by the retry quota or the breaker.
    for e in ours_lost:
        assert isinstance(e, tc.TrinityError), repr(e)
        assert e.details is not None and e.details.get("attempts") == 6, (e.code, e.details)
    assert len(ours_lost) <= 2 and len(sdk_lost) <= 2


def test_every_answer_carries_its_exact_cost(server: MockServer) -> None:
    """Issue 12: a response and its stream cost the same, in integer nano-USD; an unknown
    model is unpriced with a reason, never $0; a dated name is priced as its model."""
    c = make_client(server, "anthropic")
    r = c.chat_sync(ask("Say hello", model="p/claude-sonnet-4-5-20250929"))
    d = r.cost_detail
    assert d is not None and d["total_nano_usd"] and not d["estimated"]
    assert r.cost_usd == d["total_usd"]
    assert d == tc.cost("claude-sonnet-4-5", r.to_dict()["usage"])
    chunks = list(c.chat_stream_sync(ask("Say hello", model="p/claude-sonnet-4-5")))
    priced = [ch.cost_detail for ch in chunks if ch.cost_detail]
    assert priced == [d], "the stream costs what the call costs"
    unknown = c.chat_sync(ask("Say hello", model="p/claude-opus-4-1-20250805"))
    assert unknown.cost_usd is None
    assert unknown.cost_detail is not None and unknown.cost_detail["unpriced_reason"] == "unknown_model"


def test_budgets_refuse_before_the_network_and_alert_once() -> None:
    """Issue 12: a daily budget is enforced before any network call, spend is settled with the
    real cost, and each alert fraction fires once per window to a Python callable."""
    with MockServer(seed=2) as s:
        provider = {"kind": "openai", "base_url": s.url + "/v1", "api_key": "sk-test"}
        c = tc.Client({"providers": {"p": provider}, "budget": {"daily_usd": 0.01, "alerts": [0.00001]}})
        alerts: list[dict[str, Any]] = []
        c.on_budget_alert(alerts.append)
        r = c.chat_sync({"model": "p/gpt-4o-mini", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})
        with pytest.raises(tc.BudgetExceededError) as info:
            # 100,000 answer tokens at $0.60 per 1M would pass the $0.01 left.
            c.chat_sync(
                {"model": "p/gpt-4o-mini", "max_tokens": 100_000, "messages": [{"role": "user", "content": "hi"}]}
            )
        assert info.value.details is not None and info.value.details["limit"] == "daily_usd"
        assert s.stats()["requests"] == 1, "the refused call never reached the server"
        day = c.budget_sync()["windows"][0]
        assert r.cost_detail is not None and day["spent_nano"] == r.cost_detail["total_nano_usd"]
        assert [a["fraction"] for a in alerts] == [0.00001] and alerts[0]["limit"] == "daily_usd"
    with pytest.raises(tc.ConfigError):
        tc.Client({"providers": {"p": provider}}).on_budget_alert(print)


def test_the_client_keeps_its_own_request_log_and_costs() -> None:
    """Issue 12: every call through the client leaves one record (answers, errors, cache hits,
    streams), each answer's `debug` names its record, errors carry `details["request_id"]`, and
    `client.costs` sums what the answers cost."""
    with MockServer(seed=4, faults={"script": ["ok", "400"]}) as s:
        provider = {"kind": "openai", "base_url": s.url + "/v1", "api_key": "sk-proj-Secret0123456789abcdef"}
        c = tc.Client({"providers": {"p": provider}, "cache": {"enabled": True, "memory": {"max_entries": 10}}})
        req = {"model": "p/gpt-4o-mini", "messages": [{"role": "user", "content": "log me"}]}
        r = c.chat_sync(req)
        assert r.debug is not None and r.debug["cost"] == r.cost_usd and r.debug["provider"] == "p"
        with pytest.raises(tc.InvalidInputError) as info:
            c.chat_sync({**req, "messages": [{"role": "user", "content": "a bad one"}]})
        hit = c.chat_sync(req)
        assert hit.cached and hit.debug is not None
        other = {**req, "messages": [{"role": "user", "content": "s"}]}
        streamed = "".join(ch.delta for ch in c.chat_stream_sync(other))
        assert streamed
        log = c.request_log
        assert len(log) == 4
        by_id = {rec["request_id"]: rec for rec in log.get_history(10)}
        assert by_id[r.debug["request_id"]]["status"] == "success"
        assert by_id[r.debug["request_id"]]["attempts"] == 1
        assert info.value.details is not None
        failed = by_id[info.value.details["request_id"]]
        assert (failed["status"], failed["error_code"], failed["http_status"]) == ("error", "invalid_input", 400)
        assert by_id[hit.debug["request_id"]]["cache_tier"] == "memory"
        assert [rec["stream"] for rec in log.get_history(10)] == [False, False, False, True]
        assert "Secret0123" not in log.export_logs("json")
        now = time.time()
        assert c.costs.summary(now - 120, now + 120)["requests"] == 3, "answers, the cache hit included"
        assert c.costs.get_total_cost(now - 120, now + 120) > r.cost_usd  # type: ignore[operator]


def test_budget_can_be_awaited() -> None:
    with MockServer(seed=2) as s:
        provider = {"kind": "openai", "base_url": s.url + "/v1", "api_key": "sk-test"}
        c = tc.Client({"providers": {"p": provider}, "budget": {"daily_usd": 5}})

        async def main() -> dict[str, Any]:
            await c.chat({"model": "p/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
            return await c.budget()

        day = asyncio.run(main())["windows"][0]
        assert day["limit"] == "daily_usd" and day["spent_nano"] > 0
        assert day == c.budget_sync()["windows"][0]


def test_metrics_text_counts_the_calls() -> None:
    with MockServer(seed=2) as s:
        c = tc.Client({"providers": {"p": {"kind": "openai", "base_url": s.url + "/v1", "api_key": "k"}}})
        c.chat_sync({"model": "p/gpt-4o-mini", "messages": [{"role": "user", "content": "m"}]})
        text = c.metrics_text()
        assert text.endswith("# EOF\n")
        assert 'trinity_requests_total{provider="p",model="gpt-4o-mini",status="success",error_code=""} 1' in text
        assert "# TYPE gen_ai_client_operation_duration_seconds histogram" in text
    with pytest.raises(tc.ConfigError):
        tc.Client({"providers": {"p": {"kind": "mock"}}, "metrics": {"enabled": False}}).metrics_text()


def test_metrics_register_into_a_prometheus_client_registry() -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    with MockServer(seed=2) as s:
        c = tc.Client({"providers": {"p": {"kind": "openai", "base_url": s.url + "/v1", "api_key": "k"}}})
        registry = CollectorRegistry()
        collector = tc.metrics.register(c, registry)
        for _ in range(3):
            c.chat_sync({"model": "p/gpt-4o-mini", "messages": [{"role": "user", "content": "m"}]})
        # What the registry serves parses back with prometheus_client's own parser.
        families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
        requests = families["trinity_requests"]
        assert requests.type == "counter"
        ok = [x for x in requests.samples if x.labels.get("status") == "success" and x.name.endswith("_total")]
        assert [x.value for x in ok] == [3.0]
        duration = families["gen_ai_client_operation_duration_seconds"]
        assert duration.type == "histogram"
        assert any(x.labels.get("le") == "81.92" for x in duration.samples)
        # The objects the collector builds are what prometheus_client's OpenMetrics parser reads
        # from the engine's text, family by family and sample by sample.
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om

        def shape(fs: Any) -> list[Any]:
            return [
                (f.name, f.type, f.unit, f.documentation, [(x.name, x.labels, x.value) for x in f.samples]) for f in fs
            ]

        assert shape(collector.collect()) == shape(parse_om(c.metrics_text()))
        registry.unregister(collector)
        assert b"trinity_requests" not in generate_latest(registry)
