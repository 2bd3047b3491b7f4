"""Context tools from Python: pruning that keeps a tool call with all its results, the window
less the answer's room, the summarize callback and its errors, and the dialects' rules."""

from __future__ import annotations

from typing import Any

import pytest

import trinity_core as tc


def history(turns: int) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [{"role": "system", "content": "You are terse."}]
    for i in range(turns):
        msgs.append({"role": "user", "content": f"question {i} " + "words " * 200})
        calls = [
            {"id": f"c{i}-{k}", "type": "function", "function": {"name": "f", "arguments": "{}"}} for k in range(3)
        ]
        msgs.append({"role": "assistant", "content": None, "tool_calls": calls})
        msgs.extend({"role": "tool", "tool_call_id": c["id"], "content": "result " * 50} for c in calls)
        msgs.append({"role": "assistant", "content": f"answer {i}"})
    msgs.append({"role": "user", "content": "the latest question"})
    return msgs


def test_pruned_history_fits_and_keeps_calls_with_their_results() -> None:
    msgs = history(40)
    before = tc.count_message_tokens(msgs, "gpt-4o-mini")["tokens"]
    p = tc.prune_context(msgs, "gpt-4o-mini", max_input_tokens=3_000)
    assert p["tokens_before"] == before
    assert p["tokens_after"] <= 3_000 == p["budget"]
    assert p["dropped"] and not p["truncated"]
    out = p["messages"]
    # The model's exact count agrees, and the result is one OpenAI takes.
    assert tc.count_message_tokens(out, "gpt-4o-mini")["tokens"] == p["tokens_after"]
    assert tc.validate_conversation(out, "openai") is None
    assert out[0] == msgs[0] and out[-1] == msgs[-1]
    # A tool message never loses its call: every kept result's call is kept.
    kept_calls = {c["id"] for m in out for c in m.get("tool_calls") or []}
    assert all(m["tool_call_id"] in kept_calls for m in out if m["role"] == "tool")


def test_the_window_less_the_answers_room() -> None:
    w = tc.available_context_window("gpt-4o-mini")
    assert w["available"] == w["context_window"] - w["reserved_output"] and w["exact"]
    w = tc.available_context_window("gpt-4o-mini", reserve_output_tokens=1_000)
    assert w["available"] == w["context_window"] - 1_000


def test_summaries_and_errors() -> None:
    msgs = history(10)
    seen: list[int] = []

    def summarize(dropped: list[dict[str, Any]]) -> str:
        seen.append(len(dropped))
        return "earlier: ten questions"

    p = tc.prune_context(msgs, "gpt-4o-mini", max_input_tokens=1_500, strategy="summarize", summarize=summarize)
    assert p["summarized"] and seen and "earlier: ten questions" in str(p["messages"])

    def broken(dropped: list[dict[str, Any]]) -> str:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        tc.prune_context(msgs, "gpt-4o-mini", max_input_tokens=1_500, strategy="summarize", summarize=broken)
    with pytest.raises(tc.ContextTooLargeError):
        tc.prune_context(msgs, "gpt-4o-mini", max_input_tokens=10)
    with pytest.raises(tc.InvalidInputError):
        tc.prune_context(msgs, "gpt-4o-mini", strategy="newest")
    with pytest.raises(tc.InvalidInputError):
        tc.prune_context([{"content": "no role"}], "gpt-4o-mini")


def test_the_dialects_rules() -> None:
    orphan = [{"role": "user", "content": "q"}, {"role": "tool", "tool_call_id": "x", "content": "r"}]
    assert tc.validate_conversation(orphan) == {"index": 1, "rule": "a tool result follows the call it answers"}
    starts_with_assistant = [{"role": "assistant", "content": "hi"}, {"role": "user", "content": "q"}]
    assert tc.validate_conversation(starts_with_assistant, "openai") is None
    assert tc.validate_conversation(starts_with_assistant, "anthropic") is not None
    # Pruned for Anthropic: what came before the first user message goes (nothing is invented).
    p = tc.prune_context(starts_with_assistant, "claude-sonnet-4-5", dialect="anthropic")
    assert p["messages"] == [{"role": "user", "content": "q"}] and p["dropped"] == [0]
