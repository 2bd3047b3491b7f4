"""The LLM client from Python: async, sync and streamed calls, cancellation, errors.

The in-process `mock` provider needs no socket; the HTTP paths run against the real mock
server (tests/python/test_client_http.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import trinity_core as tc

FIXTURES = {
    "greeting": {"prompt": "Say hello", "response": "Hello there, friend!"},
    "weather": {"match": "weather in (\\w+)", "response": "Sunny.", "chunks": ["Sun", "ny", "."]},
}


def client(**provider: Any) -> tc.Client:
    return tc.Client({"providers": {"mock": {"kind": "mock", "fixtures": FIXTURES, **provider}}})


def ask(text: str, **kw: Any) -> dict[str, Any]:
    return {"model": "mock/any", "messages": [{"role": "user", "content": text}], **kw}


def test_async_chat_and_sync_twin() -> None:
    c = client()
    r = asyncio.run(c.chat(ask("Say hello")))
    assert r.content == "Hello there, friend!"
    assert r.provider == "mock" and r.finish_reason == "stop" and r.attempts == 1
    assert r.usage.completion_tokens > 0 and r.usage.total_tokens >= r.usage.completion_tokens
    assert r.to_dict()["content"] == r.content
    r2 = c.chat_sync(model="mock/any", messages=[{"role": "user", "content": "what is the weather in Paris"}])
    assert r2.content == "Sunny."


def test_streams_keep_chunk_boundaries() -> None:
    c = client()

    async def collect() -> list[tc.ChatChunk]:
        return [chunk async for chunk in c.chat_stream(ask("weather in Rome?"))]

    chunks = asyncio.run(collect())
    assert [ch.delta for ch in chunks if ch.delta] == ["Sun", "ny", "."]
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage is not None
    sync_chunks = list(c.chat_stream_sync(ask("weather in Oslo")))
    assert "".join(ch.delta for ch in sync_chunks) == "Sunny."


def test_many_concurrent_calls() -> None:
    c = client()

    async def run() -> list[str]:
        rs = await asyncio.gather(*(c.chat(ask("Say hello")) for _ in range(500)))
        return [r.content for r in rs]

    assert set(asyncio.run(run())) == {"Hello there, friend!"}


def test_bad_requests_fail_before_any_call() -> None:
    c = client()
    with pytest.raises(tc.InvalidInputError) as info:
        c.chat_sync(model="mock/any", messages=[])
    assert info.value.details == {"path": "messages"}
    with pytest.raises(tc.InvalidInputError):
        c.chat_sync(ask("x", temperature=9))
    with pytest.raises(tc.InvalidInputError):
        c.chat_sync(model="mock/any", messages="hello")
    with pytest.raises(tc.InvalidInputError):
        c.chat_sync(ask("x", unknown_field=1))
    with pytest.raises(tc.NotFoundError):
        tc.Client({"providers": {"a": {"kind": "mock"}, "b": {"kind": "mock"}}}).chat_sync(
            ask("x") | {"model": "nobody"}
        )


def test_unmatched_prompts_are_echoed() -> None:
    r = client().chat_sync(ask("nothing matches this"))
    assert "nothing matches this" in r.content


def test_config_errors_name_the_provider() -> None:
    with pytest.raises(tc.ConfigError) as info:
        tc.Client({"providers": {"local": {"kind": "openai_compatible"}}})
    assert info.value.details == {"path": "providers.local.base_url"}
    with pytest.raises(tc.ConfigError):
        tc.Client({"providers": {"m": {"kind": "mock", "fixtures": 5}}})
