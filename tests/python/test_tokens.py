"""Token counts against OpenAI's tiktoken itself, on generated text of every kind."""

from __future__ import annotations

import random

import pytest
from conftest import ticks_during
from tiktoken_offline import get_encoding

import trinity_core as tc

ENCODINGS = ["cl100k_base", "o200k_base"]


@pytest.fixture(scope="module", params=ENCODINGS)
def enc(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return get_encoding(request.param)


def reference(enc, text: str) -> int:  # type: ignore[no-untyped-def]
    return len(enc.encode(text, disallowed_special=()))


POOLS = [
    "abcdefghijklmnopqrstuvwxyz     ",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabc'sltvremd ",
    "0123456789 .,",
    " \t\n\r\x0b\x0c\u00a0\u2003\u3000",
    "!@#$%^&*()_+-=[]{};':\",./<>?\\|`~",
    "中文字符日本語のテキスト한국어텍스트",
    "αβγδεζηθ Привет мир ñéüàç",
    "😀🚀👨‍👩‍👧🇫🇷👍🏽✨\u200d\ufe0f",
    "\u0301\u0308\u0323\u20dd\u093f\u0e31",  # combining marks
    "\ufffd\u200b\ue000\U0010fffd\x00\x7f",
    "<|endoftext|><|fim_prefix|><|im_start|>",
]


def random_text(rng: random.Random, n: int) -> str:
    pools = rng.sample(POOLS, k=rng.randint(1, 4))
    return "".join(rng.choice(rng.choice(pools)) for _ in range(n))


def test_random_corpora_match_tiktoken(enc) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(20261122)
    for _ in range(1500):
        text = random_text(rng, rng.randint(0, 400))
        assert tc.count_tokens(text, encoding=enc.name) == reference(enc, text), repr(text)


def test_long_runs_and_large_documents(enc) -> None:  # type: ignore[no-untyped-def]
    for text in ["a" * 50_000, "1" * 30_001, " " * 20_000, "\n" * 10_000, "🙂" * 10_000, "ab " * 30_000]:
        assert tc.count_tokens(text, encoding=enc.name) == reference(enc, text)
    rng = random.Random(7)
    words = [random_text(rng, rng.randint(1, 12)) for _ in range(3000)]
    doc = " ".join(rng.choice(words) for _ in range(120_000))  # > 256 KiB: counted in parallel
    assert len(doc.encode()) > 300_000
    assert tc.count_tokens(doc, encoding=enc.name) == reference(enc, doc)


def test_lone_surrogates_count_like_tiktoken(enc) -> None:  # type: ignore[no-untyped-def]
    for text in ["a\ud800b", "\udfff", "x\ud83d", "\ud83d\ude00 ok \udc00"]:
        assert tc.count_tokens(text, encoding=enc.name) == reference(enc, text)


def test_batch_equals_single(enc) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(3)
    texts = [random_text(rng, rng.randint(0, 200)) for _ in range(5000)]
    assert tc.count_tokens_batch(texts, encoding=enc.name) == [reference(enc, t) for t in texts]
    assert tc.count_tokens_batch((t for t in texts[:10]), encoding=enc.name) == [reference(enc, t) for t in texts[:10]]
    assert tc.count_tokens_batch([], encoding=enc.name) == []


def test_model_resolution() -> None:
    text = "The quick brown fox"
    assert tc.count_tokens(text, model="gpt-4o") == reference(get_encoding("o200k_base"), text)
    assert tc.count_tokens(text, model="gpt-3.5-turbo") == reference(get_encoding("cl100k_base"), text)
    # an explicit encoding wins
    assert tc.count_tokens(text, model="gpt-3.5-turbo", encoding="o200k_base") == tc.count_tokens(text)
    r = tc.count_message_tokens([{"role": "user", "content": text}], "claude-sonnet-4-5")
    assert r["estimated"] is True and r["tokens"] > 0
    r = tc.count_message_tokens([{"role": "user", "content": text}], "gpt-4o")
    assert r["estimated"] is False and r["encoding"] == "o200k_base" and r["model"] == "gpt-4o"


@pytest.mark.parametrize(
    "call, code",
    [
        (lambda: tc.count_tokens(123), "invalid_input"),  # type: ignore[arg-type]
        (lambda: tc.count_tokens(b"bytes"), "invalid_input"),  # type: ignore[arg-type]
        (lambda: tc.count_tokens("x", model=5), "invalid_input"),  # type: ignore[arg-type]
        (lambda: tc.count_tokens("x", encoding="gpt2"), "invalid_input"),
        (lambda: tc.count_tokens("x", model="nope-model"), "not_found"),
        (lambda: tc.count_tokens_batch("not a list"), "invalid_input"),
        (lambda: tc.count_tokens_batch(["ok", 3]), "invalid_input"),  # type: ignore[list-item]
        (lambda: tc.count_tokens_batch(5), "invalid_input"),  # type: ignore[arg-type]
        (lambda: tc.count_message_tokens([{"role": 1}], "gpt-4o"), "invalid_input"),
        (lambda: tc.count_message_tokens([{"role": "user", "content": {1, 2}}], "gpt-4o"), "invalid_input"),
        (lambda: tc.count_message_tokens("hi", "gpt-4o"), "invalid_input"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_has_a_code(call, code: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(tc.TrinityError) as info:
        call()
    assert info.value.code == code


def test_large_counts_release_the_gil() -> None:
    """While one thread counts a large document, another thread keeps running Python code."""
    doc = "lorem ipsum dolor sit amet " * 400_000
    during = [ticks_during(lambda: tc.count_tokens(doc, encoding="cl100k_base")) for _ in range(3)]
    # With the GIL held for the whole call the spinner could not move at all during it.
    assert max(during) > 10_000, during
