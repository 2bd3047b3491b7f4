"""PromptOptimizer from Python on the committed corpus (core/tests/fixtures/prompts/): counts
that agree with tiktoken, protected spans (numbers, URLs, quoted strings, code fences,
{{templates}}) unchanged, idempotent and deterministic passes, compress at or under its target,
cache breakpoints over the registry's minimums, and typed errors for bad input."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import ticks_during
from tiktoken_offline import get_encoding

import trinity_core as tc

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "core" / "tests" / "fixtures" / "prompts"
SLICES = ("json", "logs", "history", "boilerplate", "chat")
O200K = get_encoding("o200k_base")

Prompt = str | list[dict[str, Any]]


def corpus() -> list[tuple[str, str, Prompt]]:
    cases: list[tuple[str, str, Prompt]] = []
    for slice_ in SLICES:
        for f in sorted((CORPUS / slice_).iterdir()):
            text = f.read_text()
            cases.append((slice_, f.name, json.loads(text) if f.name.endswith(".messages.json") else text))
    return cases


CASES = corpus()
TEXTS = [(name, p) for _, name, p in CASES if isinstance(p, str)]
IDS = [name for _, name, _ in CASES]


def tokens(text: str) -> int:
    return len(O200K.encode_ordinary(text))


# The tests' own readers, not the library's.
MARKER = re.compile(r"^\[same as (?:message \d+, )?lines? \d+(?:-\d+)?(?: above)?(?:, \d+ times)?\]$")
SPANS = {
    "url": re.compile(r"(?:https?|ftp|file)://[^\s<>\"'`]+"),
    "number": re.compile(r"\d+(?:\.\d+)?"),
    "quoted": re.compile(r'"(?:[^"\\\n]|\\.)*"'),
    "var": re.compile(r"\{\{[^}\n]*\}\}"),
}


def strings(value: Any) -> list[str]:
    """Every string of a prompt, objects walked in key order (the core returns sorted keys)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    if isinstance(value, dict):
        return [s for k in sorted(value) for s in strings(value[k])]
    return []


def split_fences(text: str) -> tuple[list[str], str]:
    """The code fences of `text` (whole blocks) and the rest, repeat-reference lines left out."""
    fences: list[str] = []
    rest: list[str] = []
    block: list[str] | None = None
    for line in text.split("\n"):
        marker = line.lstrip().startswith(("```", "~~~"))
        if block is not None:
            block.append(line)
            if marker:
                fences.append("\n".join(block))
                block = None
        elif marker:
            block = [line]
        elif not MARKER.match(line):
            rest.append(line)
    if block is not None:
        fences.append("\n".join(block))
    return fences, "\n".join(rest)


def spans(prompt: Prompt) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"fence": [], **{k: [] for k in SPANS}}
    for s in strings(prompt):
        fences, rest = split_fences(s)
        out["fence"] += fences
        for kind, rx in SPANS.items():
            out[kind] += rx.findall(rest)
    return out


def is_subsequence(short: list[str], long: list[str]) -> bool:
    it = iter(long)
    return all(any(x == y for y in it) for x in short)


# ------------------------------------------------------------------------------ lossless tier


@pytest.mark.parametrize("slice_,name,prompt", CASES, ids=IDS)
def test_counts_are_exact_and_never_grow(slice_: str, name: str, prompt: Prompt) -> None:
    out = tc.PromptOptimizer().optimize_for_cost(prompt, "gpt-4o")
    assert out["tokens_after"] <= out["tokens_before"], name
    assert (out["encoding"], out["estimated"], out["goal"]) == ("o200k_base", False, "cost")
    assert isinstance(out["prompt"], type(prompt))
    if isinstance(prompt, str):
        assert isinstance(out["prompt"], str)
        assert out["tokens_before"] == tokens(prompt)
        assert out["tokens_after"] == tokens(out["prompt"])
    elif all(isinstance(m.get("content"), str | None) for m in prompt):
        # OpenAI-shaped conversations: the same count as count_message_tokens.
        assert out["tokens_before"] == tc.count_message_tokens(prompt, "gpt-4o")["tokens"]
        assert isinstance(out["prompt"], list)
        assert out["tokens_after"] == tc.count_message_tokens(out["prompt"], "gpt-4o")["tokens"]
    changed = out["prompt"] != prompt
    assert bool(out["applied"]) == changed or not changed, out["applied"]


@pytest.mark.parametrize("slice_,name,prompt", CASES, ids=IDS)
def test_protected_spans_come_out_unchanged(slice_: str, name: str, prompt: Prompt) -> None:
    out = tc.optimize_prompt(prompt)
    before, after = spans(prompt), spans(out["prompt"])
    repeats = out["passes"]["repeats"]
    for kind in before:
        # Every distinct span survives byte for byte, in order; only repeats may collapse to a
        # reference (which the readers leave out).
        assert set(after[kind]) == set(before[kind]), (name, kind)
        assert is_subsequence(after[kind], before[kind]), (name, kind)
        if repeats == 0:
            assert after[kind] == before[kind], (name, kind)


def test_the_corpus_has_spans_and_repeats_to_check() -> None:
    found = {k: 0 for k in ("fence", *SPANS)}
    repeats = 0
    for _, _, prompt in CASES:
        for kind, values in spans(prompt).items():
            found[kind] += len(values)
        repeats += tc.optimize_prompt(prompt)["passes"]["repeats"]
    assert found["number"] > 1000 and found["url"] > 20 and found["fence"] > 3 and found["var"] > 0, found
    assert repeats > 5


@pytest.mark.parametrize("slice_,name,prompt", CASES, ids=IDS)
def test_optimizing_twice_is_optimizing_once(slice_: str, name: str, prompt: Prompt) -> None:
    opt = tc.PromptOptimizer()
    for method in (opt.optimize_for_cost, opt.optimize_for_latency, opt.optimize_for_quality):
        once = method(prompt)
        twice = method(once["prompt"])
        assert twice["prompt"] == once["prompt"], name
        assert twice["applied"] == [] and set(twice["passes"].values()) == {0}
        assert twice["tokens_before"] == twice["tokens_after"] == once["tokens_after"]
        assert method(prompt) == once, "not deterministic"
    layout = opt.optimize_for_model(prompt, "claude-opus-5")
    assert opt.optimize_for_model(layout["prompt"], "claude-opus-5")["prompt"] == layout["prompt"]


def test_savings_by_slice_hold() -> None:
    totals: dict[str, list[int]] = {}
    for slice_, _, prompt in CASES:
        out = tc.optimize_prompt(prompt)
        t = totals.setdefault(slice_, [0, 0])
        t[0] += out["tokens_before"]
        t[1] += out["tokens_after"]
    redundant = [sum(totals[s][i] for s in ("json", "logs", "history", "boilerplate")) for i in (0, 1)]
    assert 1 - redundant[1] / redundant[0] >= 0.15, redundant
    assert 1 - totals["json"][1] / totals["json"][0] >= 0.26, totals["json"]
    assert totals["chat"][1] <= totals["chat"][0]


def test_large_prompts_release_the_gil() -> None:
    doc = "\n\n".join(p for _, p in TEXTS) * 20
    during = [ticks_during(lambda: tc.optimize_prompt(doc)) for _ in range(3)]
    assert max(during) > 10_000, during


# ------------------------------------------------------------------------------ compress


@pytest.mark.parametrize("name,text", TEXTS, ids=[n for n, _ in TEXTS])
def test_compress_ends_at_or_under_the_target(name: str, text: str) -> None:
    full = tokens(tc.optimize_prompt(text)["prompt"])  # type: ignore[arg-type]
    lossy = refused = 0
    for pct in (95, 80, 60, 30):
        target = full * pct // 100
        try:
            out = tc.PromptOptimizer().compress(text, target, "gpt-4o")
        except tc.ContextTooLargeError as e:
            assert e.code == "context_too_large" and e.details is not None
            assert e.details["min_tokens"] > target == e.details["target_tokens"]
            refused += 1
            continue
        assert out["tokens_after"] <= target == out["target_tokens"], (name, pct)
        assert out["tokens_after"] == tokens(out["text"])
        assert out["tokens_before"] == tokens(text)
        # Distinct numbers, URLs, quotes, templates and whole fences all survive.
        before, after = spans(text), spans(out["text"])
        for kind in before:
            assert set(after[kind]) == set(before[kind]), (name, pct, kind)
        if not out["lossless"]:
            lossy += 1
            assert out["dropped"] and all(d["reason"] in ("duplicate", "low_information") for d in out["dropped"])
            # Dropped units are text of the prompt after the lossless passes.
            flat = " ".join(text.split()) + "\n" + " ".join(str(tc.optimize_prompt(text)["prompt"]).split())
            assert all(d["text"] and " ".join(d["text"].split()) in flat for d in out["dropped"])
            # Compressing the result to the same target changes nothing.
            assert tc.compress_prompt(out["text"], target, "gpt-4o")["text"] == out["text"]
    assert lossy + refused >= 1


def test_lone_surrogates_read_as_replacement_characters() -> None:
    out = tc.optimize_prompt("a\ud800  b")
    assert out["prompt"] == "a\ufffd b"
    assert out["tokens_before"] == tc.count_tokens("a\ud800  b")


def test_compress_of_a_prompt_that_fits_returns_it() -> None:
    text = TEXTS[0][1]
    out = tc.compress_prompt(text, tokens(text))
    assert (out["text"], out["lossless"], out["dropped"]) == (text, True, [])


# ------------------------------------------------------------------------------ cache layout


def test_anthropic_breakpoints_respect_the_registry_minimum() -> None:
    registry = tc.Registry.default()
    system = "\n".join(f"Rule {i}: cite the handbook section and keep customer data private." for i in range(150))
    msgs: list[dict[str, Any]] = [{"role": "system", "content": f"{system}\nCurrent date: 2026-05-01"}]
    for i in range(30):
        msgs += [{"role": "user", "content": f"Question {i} about order {1000 + i}?"}]
        msgs += [{"role": "assistant", "content": f"Answer {i}: it shipped on day {i}."}]
    msgs.append({"role": "user", "content": "And the last one?"})
    for model in ("claude-opus-5", "claude-sonnet-4-5", "claude-haiku-4-5"):
        minimum = registry.get(model).cache_min_tokens
        layout = tc.PromptOptimizer().optimize_for_model(msgs, model)
        assert (layout["caching"], layout["cache_min_tokens"]) == ("breakpoints", minimum)
        assert minimum is not None and isinstance(layout["prompt"], list)
        marks = [b for m in layout["prompt"] for b in (m["content"] if isinstance(m["content"], list) else [])]
        placed = [b for b in marks if "cache_control" in b]
        assert len(placed) == len(layout["breakpoints"]) <= 4
        assert all(b["prefix_tokens"] >= minimum for b in layout["breakpoints"])
        assert layout["moved"] == ["Current date: 2026-05-01"]
        assert layout["reaches_minimum"] == (layout["stable_prefix_tokens"] >= minimum)
    assert tc.optimize_prompt_for_model(msgs, "claude-opus-5")["breakpoints"]
    openai = tc.optimize_prompt_for_model(msgs, "gpt-4o")
    assert openai["caching"] == "automatic" and openai["breakpoints"] == []
    assert openai["reaches_minimum"] == (openai["stable_prefix_tokens"] >= 1024)
    unknown = tc.optimize_prompt_for_model("Just a question.", "gpt-3.5-turbo")
    assert (unknown["caching"], unknown["cache_min_tokens"], unknown["reaches_minimum"]) == ("unknown", None, None)


# ------------------------------------------------------------------------------ errors and API


@pytest.mark.parametrize(
    "call,error",
    [
        (lambda o: o.optimize_for_cost(42), tc.InvalidInputError),
        (lambda o: o.optimize_for_cost(None), tc.InvalidInputError),
        (lambda o: o.optimize_for_cost({"role": "user", "content": "hi"}), tc.InvalidInputError),
        (lambda o: o.optimize_for_latency(["not a message"]), tc.InvalidInputError),
        (lambda o: o.optimize_for_quality("hi", 3), tc.InvalidInputError),
        (lambda o: o.optimize_for_cost("hi", "no-such-model"), tc.NotFoundError),
        (lambda o: o.optimize_for_model("hi", "no-such-model"), tc.NotFoundError),
        (lambda o: o.optimize_for_model(b"hi", "gpt-4o"), tc.InvalidInputError),
        (lambda o: o.compress("hi", -1), tc.InvalidInputError),
        (lambda o: o.compress("hi", 2.5), tc.InvalidInputError),
        (lambda o: o.compress("hi", True), tc.InvalidInputError),
        (lambda o: o.compress("hi", "10"), tc.InvalidInputError),
        (lambda o: o.compress([{"role": "user", "content": "hi"}], 10), tc.InvalidInputError),
        (lambda o: o.compress("hi", 10, "no-such-model"), tc.NotFoundError),
        (lambda o: o.compress("Order 1 2 3 4 5 6 7 8 9 at https://a.example/x", 3), tc.ContextTooLargeError),
        (lambda o: tc.optimize_prompt("hi", goal="speed"), tc.InvalidInputError),  # type: ignore[arg-type]
    ],
)
def test_bad_input_raises_the_stable_code(call: Any, error: type[tc.TrinityError]) -> None:
    with pytest.raises(error) as info:
        call(tc.PromptOptimizer())
    assert info.value.code == error.code


def test_methods_match_the_stub_and_the_module_functions() -> None:
    tree = ast.parse((ROOT / "python" / "trinity_core" / "_native.pyi").read_text())
    stub = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "PromptOptimizer")
    methods = {f.name for f in stub.body if isinstance(f, ast.FunctionDef)} - {"__init__"}
    assert methods == {n for n in dir(tc.PromptOptimizer) if not n.startswith("_")}
    text = CASES[0][2]
    opt = tc.PromptOptimizer()
    assert opt.optimize_for_latency(text) == tc.optimize_prompt(text, goal="latency")
    assert opt.optimize_for_model(text, "gpt-4o") == tc.optimize_prompt_for_model(text, "gpt-4o")
    assert isinstance(text, str)
    for target in (tokens(text) // 2, tokens(text) // 10):
        assert outcome(opt.compress, text, target) == outcome(tc.compress_prompt, text, target)


def outcome(f: Any, *args: Any) -> Any:
    try:
        return f(*args)
    except tc.TrinityError as e:
        return e.code, e.details
