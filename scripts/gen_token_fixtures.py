"""Writes tests/fixtures/tokens.json: token counts computed by OpenAI's tiktoken itself.

Every language replays these cases, so each binding is checked against tiktoken, not
against our own numbers. Re-run after changing the cases: python3 scripts/gen_token_fixtures.py
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from tiktoken_offline import get_encoding  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tokens.json"

TEXTS: dict[str, tuple[str, int]] = {
    "empty": ("", 1),
    "ascii": ("Hello, world! This is trinity-core counting tokens.", 1),
    "code": ("def f(x):\n    return x ** 2  # square\n\n\tprint(f(12345678))\r\n", 1),
    "numbers": ("1 12 123 1234 12345 3.14159 -42 1e10 0x1F", 1),
    "contractions": ("I'm sure you'll see they've DON'T we'd It'S", 1),
    "whitespace": ("  leading\n\n\ntrailing   \t\n  \n   x  ", 1),
    "chinese": ("大型语言模型的应用程序需要快速的令牌计数。", 1),
    "japanese": ("東京は日本の首都です。カタカナとひらがな。", 1),
    "arabic": ("مرحبا بالعالم، هذا اختبار للترميز", 1),
    "hindi": ("नमस्ते दुनिया, यह एक परीक्षण है", 1),
    "russian": ("Привет, мир! Съешь же ещё этих мягких французских булок.", 1),
    "emoji": ("👋🌍 family: 👨‍👩‍👧‍👦 flags: 🇫🇷🇯🇵 skin: 👍🏽 ✨🔥💯", 1),
    "odd-unicode": ("\ufffd\u200b\u200d\ue000\U0010ffff e\u0301 \u0000\u001f\u007f \ufeffBOM \u2028\u2029", 1),
    "combining": ("Z̷̢͈͓̥̤̪͎̿͌̓̔̈́ä̴̛̙͖͎̹̹́l̶g̷o̵", 1),
    "special-tokens-as-text": ("<|endoftext|> <|fim_prefix|><|im_start|>user<|im_end|><|endofprompt|>", 1),
    "url": ("https://example.com/a/very/long/path?with=query&and=more#fragment", 1),
    "camel-case": ("getHTTPResponseCode parseXMLDocument iOSAppDelegate", 1),
    "long-run-letters": ("a", 20000),
    "long-run-digits": ("7", 10001),
    "long-run-spaces": (" ", 5000),
    "long-run-newlines": ("\n", 3000),
    "long-run-punct": ("!?", 4000),
    "long-run-cjk": ("字", 5000),
    "long-run-emoji": ("🙂", 3000),
    "repeated-words": ("the quick brown fox jumps over the lazy dog. ", 2000),
}


def random_text(seed: int, n: int) -> str:
    rng = random.Random(seed)
    alphabet = (
        "abcdefghijklmnopqrstuvwxyz ABCXYZ 0123456789 .,;:!?'\"-_/\\()[]{}<>|@#$%^&*+=~`"
        " \n\t\r éüßçñ 中文字 日本語 한국어 αβγ Ωπ 😀🚀 \u200d\u0301"
    )
    return "".join(rng.choice(alphabet) for _ in range(n))


def main() -> None:
    encs = {name: get_encoding(name) for name in ("cl100k_base", "o200k_base")}
    count = lambda name, text: len(encs[name].encode(text, disallowed_special=()))  # noqa: E731
    cases = []
    texts = dict(TEXTS)
    for seed in range(6):
        texts[f"random-{seed}"] = (random_text(seed, 3000), 1)
    for key, (text, repeat) in texts.items():
        full = text * repeat
        for name in encs:
            inp = {"text": text, "encoding": name}
            if repeat != 1:
                inp["repeat"] = repeat
            cases.append(
                {
                    "id": f"tokens/{key}/{name}",
                    "op": "count_tokens",
                    "input": inp,
                    "expect": {"tokens": count(name, full)},
                }
            )
    sample = texts["ascii"][0]
    for model, enc in [("gpt-4o", "o200k_base"), ("gpt-4.1-mini", "o200k_base"), ("gpt-3.5-turbo", "cl100k_base")]:
        cases.append(
            {
                "id": f"tokens/model/{model}",
                "op": "count_tokens",
                "input": {"text": sample, "model": model},
                "expect": {"tokens": count(enc, sample)},
            }
        )
    cases.append(
        {
            "id": "tokens/default-encoding-is-o200k",
            "op": "count_tokens",
            "input": {"text": sample},
            "expect": {"tokens": count("o200k_base", sample)},
        }
    )
    batch = [texts[k][0] for k in ("ascii", "chinese", "emoji", "empty", "code")]
    cases.append(
        {
            "id": "tokens/batch",
            "op": "count_tokens_batch",
            "input": {"texts": batch, "encoding": "cl100k_base"},
            "expect": {"counts": [count("cl100k_base", t) for t in batch]},
        }
    )

    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "name": "alice", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": [{"type": "text", "text": "And of "}, {"type": "text", "text": "Japan?"}]},
    ]

    def message_tokens(enc: str) -> int:
        total = 3
        for m in messages:
            total += 3 + count(enc, m["role"])
            c = m["content"]
            total += count(enc, c) if isinstance(c, str) else sum(count(enc, p["text"]) for p in c)
            if "name" in m:
                total += 1 + count(enc, m["name"])
        return total

    cases.append(
        {
            "id": "messages/gpt-4o",
            "op": "count_message_tokens",
            "input": {"messages": messages, "model": "gpt-4o"},
            "expect": {"tokens": message_tokens("o200k_base"), "estimated": False, "encoding": "o200k_base"},
        }
    )
    cases.append(
        {
            "id": "messages/gpt-3.5-turbo",
            "op": "count_message_tokens",
            "input": {"messages": messages, "model": "gpt-3.5-turbo"},
            "expect": {"tokens": message_tokens("cl100k_base"), "estimated": False, "encoding": "cl100k_base"},
        }
    )
    cases.append(
        {
            # Claude's count is the core's calibrated estimate (core/src/tokens/claude.rs), not tiktoken's.
            "id": "messages/claude-is-an-estimate",
            "op": "count_message_tokens",
            "input": {"messages": messages, "model": "claude-sonnet-4-5"},
            "expect": {"estimated": True, "encoding": "claude_estimate"},
        }
    )
    cases.append(
        {
            # Every runner installs the open-model tokenizers first (target/tokenizers); their exact
            # counts are checked against their reference packages in core/tests/open_tokenizers.rs.
            "id": "messages/gemini-counts-with-gemma3",
            "op": "count_message_tokens",
            "input": {"messages": messages, "model": "gemini-2.5-flash"},
            "expect": {"estimated": False, "encoding": "gemma3"},
        }
    )

    errors = [
        ("unknown-model", "count_tokens", {"text": "x", "model": "gpt-9000-ultra"}, "not_found"),
        ("unknown-encoding", "count_tokens", {"text": "x", "encoding": "p99k_base"}, "invalid_input"),
        ("batch-unknown-encoding", "count_tokens_batch", {"texts": ["x"], "encoding": "nope"}, "invalid_input"),
        (
            "messages-not-a-list",
            "count_message_tokens",
            {"messages": {"role": "user"}, "model": "gpt-4o"},
            "invalid_input",
        ),
        (
            "messages-no-role",
            "count_message_tokens",
            {"messages": [{"content": "hi"}], "model": "gpt-4o"},
            "invalid_input",
        ),
        (
            "messages-bad-content",
            "count_message_tokens",
            {"messages": [{"role": "user", "content": 5}], "model": "gpt-4o"},
            "invalid_input",
        ),
        ("messages-unknown-model", "count_message_tokens", {"messages": [], "model": "nobody"}, "not_found"),
    ]
    for key, op, inp, code in errors:
        cases.append({"id": f"tokens/error/{key}", "op": op, "input": inp, "expect": {"error": code}})

    OUT.write_text(
        json.dumps({"about": __doc__.strip().splitlines()[0], "cases": cases}, ensure_ascii=False, indent=1) + "\n"
    )
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
