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


def test_documents_and_turns_ordered_by_relevance() -> None:
    docs = ["Bananas are yellow.", "Canberra is the capital of Australia.", "Rust has no GC.", "Oslo is rainy."]
    r = tc.prioritize_context(docs, "What is the capital of Australia?")
    assert r["items"][0] == docs[1] and sorted(r["order"]) == [0, 1, 2, 3]
    assert r["items"] == [docs[i] for i in r["order"]]
    assert r["scores"][1] == max(s for s in r["scores"] if s is not None) and r["scores"][0] == 0.0
    with pytest.raises(tc.InvalidInputError):
        tc.prioritize_context(docs)  # documents need a query
    with pytest.raises(tc.InvalidInputError):
        tc.prioritize_context(["a", {"role": "user", "content": "b"}], "q")
    # Messages: whole turns move, tool calls with their results; the question stays last.
    msgs = history(3)
    msgs[-1] = {"role": "user", "content": "what was question 1 about?"}
    out = tc.prioritize_context(msgs)
    assert out["items"][0] == msgs[0] and out["items"][-1] == msgs[-1]
    assert tc.validate_conversation(out["items"], "openai") is None
    assert out["scores"][0] is None and out["scores"][-1] is None


def test_warnings_have_stable_codes() -> None:
    hi = [{"role": "user", "content": "hi"}]
    assert tc.warn_if_too_large({"model": "gpt-4o-mini", "max_tokens": 100, "messages": hi}) == []
    w = tc.warn_if_too_large({"messages": hi, "max_tokens": 16_385}, "gpt-3.5-turbo")
    assert [x["code"] for x in w] == ["over_window"] and w[0]["limit"] == 16_385 and w[0]["path"] is None
    timestamped = {
        "max_tokens": 100,
        "system": [{"type": "text", "text": "Now: 2026-12-05 10:00:00", "cache_control": {"type": "ephemeral"}}],
        "messages": hi,
    }
    codes = [x["code"] for x in tc.warn_if_too_large(timestamped, "claude-haiku-4-5")]
    assert codes == ["under_cache_minimum", "volatile_before_cache_breakpoint"]
    with pytest.raises(tc.InvalidInputError):
        tc.warn_if_too_large({"messages": []})  # no model anywhere
    with pytest.raises(tc.NotFoundError):
        tc.warn_if_too_large({"messages": []}, "gpt-4-omni-max")


def test_the_context_manager_of_seed_004() -> None:
    cm = tc.ContextManager(max_input_tokens=3_000)
    assert cm.get_available_context_window("gpt-4o-mini") == 3_000
    assert cm.estimate_tokens("hello world", "gpt-4o-mini") == 2
    msgs = history(40)
    pruned = cm.prune_context(msgs, "gpt-4o-mini")
    assert pruned == tc.prune_context(msgs, "gpt-4o-mini", max_input_tokens=3_000)["messages"]
    assert cm.prioritize_context(pruned, "gpt-4o-mini") == tc.prioritize_context(pruned)["items"]
    request = {"messages": pruned, "max_tokens": 200_000}
    assert [w["code"] for w in cm.warn_if_too_large(request, "gpt-4o-mini")] == ["over_window"]
    anthropic = tc.ContextManager(dialect="anthropic")
    leading = [{"role": "assistant", "content": "hi"}, {"role": "user", "content": "q"}]
    assert anthropic.prune_context(leading, "claude-haiku-4-5") == [{"role": "user", "content": "q"}]
