"""Issue 15: the client prunes a conversation over its model's window before sending it
(`context.auto_prune` in the config or per request), against the real mock server, whose usage
counts the prompt it received."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import trinity_core as tc
from trinity_core.testing import MockServer

BUDGET = 128_000 - 16_384  # gpt-4o-mini: window less its max output


def conversation(turns: int) -> list[dict[str, Any]]:
    def text(n: int) -> str:
        return " ".join(f"t{n}w{i}" for i in range(1_000))

    messages: list[dict[str, Any]] = [{"role": "system", "content": "You answer from the history."}]
    for t in range(turns):
        messages += [{"role": "user", "content": text(2 * t)}, {"role": "assistant", "content": text(2 * t + 1)}]
    return [*messages, {"role": "user", "content": "What was said first?"}]


def test_a_conversation_over_the_window_is_pruned_when_asked() -> None:
    asyncio.run(pruned_when_asked())


async def pruned_when_asked() -> None:
    with MockServer(seed=1, default_response="echo") as s:
        provider = {"p": {"kind": "openai", "base_url": s.url + "/v1", "api_key": "k"}}
        client = tc.Client({"providers": provider, "context": {"auto_prune": True}})
        messages = conversation(80)
        full = await client.chat(model="p/gpt-4o-mini", messages=messages, context={"auto_prune": False})
        assert full.usage.prompt_tokens > 128_000
        r = await client.chat(model="p/gpt-4o-mini", messages=messages)
        assert r.content == "What was said first?"
        assert BUDGET - 10_000 < r.usage.prompt_tokens <= BUDGET
        r = client.chat_sync(model="p/gpt-4o-mini", messages=messages, context={"max_input_tokens": 10_000})
        assert r.usage.prompt_tokens <= 10_000
        # Instructions alone over the window: refused before anything is sent.
        before = s.stats()["requests"]
        huge = " ".join(f"r{i}" for i in range(70_000))
        with pytest.raises(tc.ContextTooLargeError):
            await client.chat(
                model="p/gpt-4o-mini", messages=[{"role": "system", "content": huge}, {"role": "user", "content": "hi"}]
            )
        assert s.stats()["requests"] == before
        with pytest.raises(tc.InvalidInputError, match="summarize"):
            await client.chat(model="p/gpt-4o-mini", messages=messages, context={"strategy": "summarize"})
    with pytest.raises(tc.ConfigError, match="context.strategy"):
        tc.Client({"providers": provider, "context": {"auto_prune": True, "strategy": "summarize"}})
