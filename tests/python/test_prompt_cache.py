"""Issue 15: Anthropic prompt-cache breakpoints (`cache_control`) passed from Python reach the
provider on the blocks they were put on, OpenAI never sees them, and more than 4 are refused before
anything is sent. Against the real mock server, which keeps what it received (`record_requests`,
read back from `GET /_mock/requests`)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

import trinity_core as tc
from trinity_core.testing import MockServer

EPHEMERAL = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer(seed=1, default_response="echo", record_requests=8) as s:
        yield s


def make_client(server: MockServer) -> tc.Client:
    return tc.Client(
        {
            "providers": {
                "a": {"kind": "anthropic", "base_url": server.url + "/v1", "api_key": "k"},
                "o": {"kind": "openai", "base_url": server.url + "/v1", "api_key": "k"},
            }
        }
    )


def received(server: MockServer) -> list[dict[str, Any]]:
    with urllib.request.urlopen(server.url + "/_mock/requests") as r:
        got: list[dict[str, Any]] = json.load(r)["requests"]
    urllib.request.urlopen(urllib.request.Request(server.url + "/_mock/reset", method="POST")).close()
    return got


def has_cache_control(v: Any) -> bool:
    if isinstance(v, dict):
        return "cache_control" in v or any(has_cache_control(x) for x in v.values())
    if isinstance(v, list):
        return any(has_cache_control(x) for x in v)
    return False


def messages() -> list[dict[str, Any]]:
    return [
        {
            "role": "system",
            "content": [{"type": "text", "text": "You are terse.", "cache_control": HOUR}],
        },
        {"role": "user", "content": [{"type": "text", "text": "A long document.", "cache_control": EPHEMERAL}]},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "Summarise it."},
    ]


def test_a_cache_control_part_reaches_anthropic_on_its_block(server: MockServer) -> None:
    c = make_client(server)
    r = c.chat_sync({"model": "a/claude-sonnet-4-5", "messages": messages()})
    assert r.content == "Summarise it."
    [req] = received(server)
    assert req["route"] == "POST /v1/messages"
    body = req["body"]
    assert body["system"] == [{"type": "text", "text": "You are terse.", "cache_control": HOUR}]
    assert body["messages"][0]["content"] == [{"type": "text", "text": "A long document.", "cache_control": EPHEMERAL}]
    assert not has_cache_control(body["messages"][1:])


def test_openai_gets_the_parts_without_cache_control(server: MockServer) -> None:
    c = make_client(server)
    c.chat_sync({"model": "o/gpt-4o-mini", "messages": messages()})
    [req] = received(server)
    assert req["route"] == "POST /v1/chat/completions"
    assert not has_cache_control(req["body"])
    assert req["body"]["messages"][1]["content"] == [{"type": "text", "text": "A long document."}]


def test_more_than_four_breakpoints_are_refused_before_sending(server: MockServer) -> None:
    c = make_client(server)
    parts = [{"type": "text", "text": f"part {i}", "cache_control": EPHEMERAL} for i in range(5)]
    with pytest.raises(tc.InvalidInputError) as info:
        c.chat_sync({"model": "a/claude-sonnet-4-5", "messages": [{"role": "user", "content": parts}]})
    assert info.value.code == "invalid_input"
    assert info.value.details is not None
    assert info.value.details["path"] == "messages[0].content[4].cache_control"
    assert info.value.details["count"] == 5
    assert received(server) == []


def test_optimize_for_model_breakpoints_arrive(server: MockServer) -> None:
    rules = "".join(f"Rule {i}: answer order questions from the tools, never guess.\n" for i in range(300))
    conversation: list[dict[str, Any]] = [
        {"role": "system", "content": rules + "Current date: 2026-05-01"},
        {"role": "user", "content": "Which orders shipped?"},
    ]
    layout = tc.optimize_prompt_for_model(conversation, "claude-sonnet-4-5")
    assert layout["caching"] == "breakpoints" and layout["breakpoints"]
    laid_out = layout["prompt"]
    assert isinstance(laid_out, list)

    make_client(server).chat_sync({"model": "a/claude-sonnet-4-5", "messages": laid_out})
    [req] = received(server)
    body = req["body"]
    marked = [b for b in body["system"] if "cache_control" in b]
    for m in body["messages"]:
        marked += [b for b in m["content"] if "cache_control" in b]
    assert len(marked) == len(layout["breakpoints"])
    for bp, block in zip(layout["breakpoints"], marked, strict=True):
        part = laid_out[bp["message"]]["content"][bp["block"]]
        assert block == {"type": "text", "text": part["text"], "cache_control": part["cache_control"]}
