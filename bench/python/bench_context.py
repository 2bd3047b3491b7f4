"""Context pruning from Python, side by side with LiteLLM's and LangChain's `trim_messages`.

One chat history of 1,000 messages (about 200k o200k tokens: prose, tool calls with parallel
results, a long system prompt) is cut to a 100k-token budget for gpt-4o by each tool, as a chat
app does before each turn. Times: the first cut of the history (cold) and the cut after one more
turn is added (warm: trinity-core remembers each message's count by content; the others count
everything again). Each output is then checked with trinity-core's provider validator: a tool
result left without its call (or a call without its results) is a 400 at OpenAI. Ratios > 1 mean
trinity-core is faster.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from tiktoken_offline import get_encoding  # noqa: E402

import trinity_core as tc  # noqa: E402

MODEL = "gpt-4o"
BUDGET = 100_000
WORDS = (
    "cache latency provider budget token window retry breaker answer stream route model prompt "
    "queue deadline fallback invoice customer refund shipment warehouse order ticket schedule"
).split()


def history(n: int = 1_000, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)

    def text(words: int) -> str:
        return " ".join(rng.choice(WORDS) + str(rng.randrange(100)) for _ in range(words))

    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are a support agent. " + text(400)}]
    call = 0
    while len(messages) < n - 1:
        messages.append({"role": "user", "content": text(rng.randrange(40, 120))})
        if rng.random() < 0.25:  # a turn with two parallel tool calls and their results
            ids = [f"call_{call}", f"call_{call + 1}"]
            call += 2
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": i,
                            "type": "function",
                            "function": {"name": "lookup", "arguments": json.dumps({"q": text(5)})},
                        }
                        for i in ids
                    ],
                }
            )
            messages += [{"role": "tool", "tool_call_id": i, "content": text(rng.randrange(60, 160))} for i in ids]
        messages.append({"role": "assistant", "content": text(rng.randrange(40, 120))})
    messages.append({"role": "user", "content": "And what about the refund for order 42?"})
    return messages


def timed(f: Callable[[], Any], runs: int = 5) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(runs):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best * 1e3, out


def main() -> None:
    enc = get_encoding("o200k_base")
    msgs = history()
    total = tc.count_message_tokens(msgs, MODEL)["tokens"]
    print(f"pruning a {len(msgs)}-message history ({total} tokens) to {BUDGET:,} for {MODEL}, best of 5:")

    def ours(m: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return tc.prune_context(m, MODEL, max_input_tokens=BUDGET)["messages"]

    rows: list[tuple[str, float, float, list[dict[str, Any]]]] = []
    cold, out = timed(lambda: ours(history(seed=8)), runs=1)  # a history never counted before
    ours(msgs)
    next_turn = [*msgs, {"role": "assistant", "content": "One moment."}, {"role": "user", "content": "Thanks."}]
    warm, out = timed(lambda: ours(next_turn))
    rows.append(("trinity-core prune_context", cold, warm, out))

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network: its bundled copy
    import litellm

    def lite(m: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return litellm.utils.trim_messages(m, model=MODEL, max_tokens=BUDGET)

    cold, _ = timed(lambda: lite(history(seed=8)), runs=1)
    warm, out = timed(lambda: lite(next_turn), runs=1)
    rows.append((f"LiteLLM {version('litellm')} trim_messages", cold, warm, out))

    try:
        from langchain_core.messages import convert_to_messages, convert_to_openai_messages, trim_messages
    except ImportError:
        trim_messages = None
    if trim_messages is not None:

        def counter(ms: list[Any]) -> int:
            n = 3
            for m in convert_to_openai_messages(ms):
                n += 3 + len(enc.encode(m.get("content") or "")) + len(enc.encode(json.dumps(m.get("tool_calls", ""))))
            return n

        def chain(m: list[dict[str, Any]]) -> list[dict[str, Any]]:
            kept = trim_messages(
                convert_to_messages(m), max_tokens=BUDGET, token_counter=counter, strategy="last", include_system=True
            )
            return convert_to_openai_messages(kept)

        cold, _ = timed(lambda: chain(history(seed=8)), runs=1)
        warm, out = timed(lambda: chain(next_turn), runs=2)
        rows.append((f"LangChain {version('langchain-core')} trim_messages", cold, warm, out))

    ref = rows[0][2]
    for name, cold, warm, out in rows:
        kept_n = tc.count_message_tokens(out, MODEL)["tokens"]
        bad = tc.validate_conversation(out, "openai")
        verdict = "valid" if bad is None else f"INVALID ({bad['rule']})"
        print(
            f"  {name:<40} cold {cold:8.2f} ms · warm {warm:8.2f} ms ({warm / ref:6.1f}x ours) · "
            f"{len(out)} messages, {kept_n} tokens, {verdict}"
        )


if __name__ == "__main__":
    main()
