"""PromptOptimizer's lossless tier from Python, side by side with the `prompt-compressor` PyPI
package, on the committed corpus (core/tests/fixtures/prompts/) and on the same texts.

For every corpus slice: tokens before and after (exact o200k_base counts by OpenAI's tiktoken,
never a tool's own estimate), the saving as an aggregate (1 - sum after / sum before), the median
and p90 of the per-prompt savings, how many prompts had a number or URL changed (a distinct
number or URL of the input missing from the output, or one the output has that the input had
not; the optimizer's "[same as ...]" reference lines are left out of the output), the same for
code fences, inline code, double-quoted strings and {{templates}}, and throughput. A last row
takes the json slice's pretty JSON values on their own (the issue's "pretty JSON" figure).
prompt-compressor's "medium" level deletes content: it is shown for completeness, not as a
lossless peer.

Conversations (`*.messages.json`) are counted as OpenAI chat prompts are: 3 tokens per message,
the tokens of every string in it, 3 for the reply's priming. Both tools change the same texts
(message content, text blocks, tool results); prompt-compressor is given each text on its own.

    .venv/bin/python bench/python/bench_prompt.py [--levels none,very-low,low,medium]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import prompt_compressor  # noqa: E402
from tiktoken_offline import get_encoding  # noqa: E402

import trinity_core as tc  # noqa: E402

CORPUS = ROOT / "core" / "tests" / "fixtures" / "prompts"
SLICES = ("json", "logs", "history", "boilerplate", "chat")
ROWS: list[tuple[str, tuple[str, ...]]] = [
    ("json", ("json",)),
    ("logs", ("logs",)),
    ("history", ("history",)),
    ("boilerplate", ("boilerplate",)),
    ("redundant (all but chat)", ("json", "logs", "history", "boilerplate")),
    ("chat", ("chat",)),
    ("all", SLICES),
    ("pretty JSON values alone", ("json values",)),
]
ENC = get_encoding("o200k_base")
SPANS = re.compile(r"(?:https?|ftp|file)://[^\s<>\"'`]+|\d+(?:\.\d+)?")
CODE_QUOTES = re.compile(r'`[^`\n]+`|"(?:[^"\\\n]|\\.)*"|\{\{[^}\n]*\}\}')
MARKER = re.compile(r"^\[same as (?:message \d+, )?lines? \d+(?:-\d+)?(?: above)?(?:, \d+ times)?\]$")

Prompt = str | list[dict[str, Any]]
Transform = Callable[[Prompt], Prompt]


def corpus() -> list[tuple[str, str, Prompt]]:
    cases: list[tuple[str, str, Prompt]] = []
    for slice_ in SLICES:
        for f in sorted((CORPUS / slice_).iterdir()):
            text = f.read_text()
            cases.append((slice_, f.name, json.loads(text) if f.name.endswith(".messages.json") else text))
    return cases


def json_values(text: str) -> list[str]:
    """Pretty JSON values that start a line and end one, outside code fences, as written."""
    out: list[str] = []
    decoder = json.JSONDecoder()
    at, fence = 0, False
    while at < len(text):
        end = text.find("\n", at)
        end = len(text) if end < 0 else end
        line = text[at:end]
        stripped = line.lstrip()
        nxt = end + 1
        if stripped.startswith(("```", "~~~")):
            fence = not fence
        elif not fence and stripped[:1] in ("{", "["):
            start = at + len(line) - len(stripped)
            try:
                _, vend = decoder.raw_decode(text, start)
            except ValueError:
                vend = -1
            lend = text.find("\n", vend) if vend >= 0 else -1
            lend = len(text) if lend < 0 else lend
            if vend >= 0 and not text[vend:lend].strip() and "\n" in text[start:vend]:
                out.append(text[start:vend])
                nxt = lend + 1
        at = nxt
    return out


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    return []


def tokens(prompt: Prompt) -> int:
    """Exact o200k tokens: a text's, or a conversation's as an OpenAI chat prompt."""
    if isinstance(prompt, str):
        return len(ENC.encode_ordinary(prompt))
    return 3 + sum(3 + sum(len(ENC.encode_ordinary(s)) for s in strings(m)) for m in prompt)


def spans(prompt: Prompt) -> set[str]:
    out: set[str] = set()
    for s in strings(prompt):
        for line in s.split("\n"):
            if not MARKER.match(line):
                out.update(SPANS.findall(line))
    return out


def code_and_quotes(prompt: Prompt) -> set[str]:
    """Whole code fences, inline code, double-quoted strings and {{templates}}."""
    out: set[str] = set()
    for s in strings(prompt):
        block: list[str] | None = None
        rest: list[str] = []
        for line in s.split("\n"):
            fence = line.lstrip().startswith(("```", "~~~"))
            if block is not None:
                block.append(line)
                if fence:
                    out.add("\n".join(block))
                    block = None
            elif fence:
                block = [line]
            elif not MARKER.match(line):
                rest.append(line)
        if block is not None:
            out.add("\n".join(block))
        out.update(CODE_QUOTES.findall("\n".join(rest)))
    return out


TEXT_TYPES = (None, "text", "input_text", "output_text")


def map_texts(messages: list[dict[str, Any]], f: Callable[[str], str]) -> list[dict[str, Any]]:
    """The texts prompt-compressor may change, as the optimizer sees them: string content, text
    blocks, tool results; thinking blocks, tool calls and other fields untouched."""

    def block(b: Any) -> Any:
        if not isinstance(b, dict):
            return b
        if isinstance(b.get("text"), str) and b.get("type") in TEXT_TYPES:
            return {**b, "text": f(b["text"])}
        if b.get("type") == "tool_result":
            c = b.get("content")
            if isinstance(c, str):
                return {**b, "content": f(c)}
            if isinstance(c, list):
                return {**b, "content": [block(x) for x in c]}
        return b

    out = []
    for m in messages:
        m = dict(m)
        c = m.get("content")
        if isinstance(c, str):
            m["content"] = f(c)
        elif isinstance(c, list):
            m["content"] = [block(b) for b in c]
        out.append(m)
    return out


def ours(prompt: Prompt) -> Prompt:
    return tc.optimize_prompt(prompt)["prompt"]


def theirs(level: str) -> Transform:
    def run(prompt: Prompt) -> Prompt:
        if isinstance(prompt, str):
            return str(prompt_compressor.compress_text(prompt, level=level))
        return map_texts(prompt, lambda t: str(prompt_compressor.compress_text(t, level=level)))

    return run


def p90(values: list[float]) -> float:
    s = sorted(values)
    return s[max(0, -(-len(s) * 9 // 10) - 1)]


def measure(name: str, f: Transform, cases: list[tuple[str, str, Prompt]]) -> dict[str, Any]:
    results = []
    outs = [f(p) for _, _, p in cases]
    # Timed over the corpus prompts only (the JSON values are a part of them).
    prompts = [p for slice_, _, p in cases if slice_ in SLICES]
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for p in prompts:
            f(p)
        times.append(time.perf_counter() - t0)
    elapsed = min(times)
    for (slice_, file, p), out in zip(cases, outs, strict=True):
        before, after = tokens(p), tokens(out)
        results.append(
            {
                "slice": slice_,
                "file": file,
                "before": before,
                "after": after,
                "saving": 1 - after / before,
                "changed": spans(p) != spans(out),
                "code": code_and_quotes(p) != code_and_quotes(out),
            }
        )
    size = sum(len(s.encode()) for p in prompts for s in strings(p))
    return {"name": name, "results": results, "mb_s": size / 1e6 / elapsed, "seconds": elapsed}


def pct(x: float) -> str:
    return f"{100 * x:6.1f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", default="none,very-low,low,medium", help="prompt-compressor levels to run")
    args = ap.parse_args()
    cases = corpus()

    # The optimizer's own counts are exact: they match tiktoken on every text prompt.
    for _, file, p in cases:
        if isinstance(p, str):
            o = tc.optimize_prompt(p, "gpt-4o")
            assert (o["tokens_before"], o["tokens_after"]) == (tokens(p), tokens(o["prompt"])), file
    tc.optimize_prompt(cases[0][2])  # warm up (regexes, ranks)

    # The pretty JSON values of the json slice on their own (TOON's benchmark: json-compact -32.9%).
    values: list[tuple[str, str, Prompt]] = [
        ("json values", f"{file}#{i}", v)
        for slice_, file, p in cases
        if slice_ == "json" and isinstance(p, str)
        for i, v in enumerate(json_values(p))
    ]
    levels = [lv for lv in args.levels.split(",") if lv]
    everything = cases + values
    tools = [measure("trinity-core lossless", ours, everything)]
    for level in levels:
        tools.append(measure(f"prompt-compressor {level}", theirs(level), everything))

    n_bytes = sum(len(s.encode()) for _, _, p in cases for s in strings(p))
    print(
        f"Prompt optimisation on the committed corpus ({len(cases)} prompts, {n_bytes / 1e3:.0f} kB): "
        "exact o200k_base counts (tiktoken), savings per slice"
    )
    print("  aggregate = 1 - sum(after)/sum(before); median and p90 of per-prompt savings;")
    print("  num/URL = prompts whose set of numbers and URLs is not the same after; code/quote = the same")
    print("  for whole code fences, inline code, double-quoted strings and {{templates}}")
    header = f"  {'slice':<26} {'tool':<28} {'prompts':>7} {'tokens':>8} {'after':>8} {'aggregate':>9} "
    header += f"{'median':>7} {'p90':>7} {'num/URL':>8} {'code/quote':>10}"
    print(header)
    for label, slices in ROWS:
        for tool in tools:
            rs = [r for r in tool["results"] if r["slice"] in slices]
            before = sum(r["before"] for r in rs)
            after = sum(r["after"] for r in rs)
            savings = [r["saving"] for r in rs]
            changed = sum(r["changed"] for r in rs)
            code = sum(r["code"] for r in rs)
            print(
                f"  {label:<26} {tool['name']:<28} {len(rs):>7} {before:>8} {after:>8} {pct(1 - after / before):>9} "
                f"{pct(statistics.median(savings)):>7} {pct(p90(savings)):>7} "
                f"{changed:>4}/{len(rs):<3} {code:>6}/{len(rs):<3}"
            )
        print()
    print("  throughput over the whole corpus (best of 5 passes, Python calls included):")
    base = tools[0]["seconds"]
    for tool in tools:
        print(
            f"    {tool['name']:<28} {tool['mb_s']:>9.2f} MB/s  {tool['seconds'] * 1e3:>9.1f} ms"
            f"  ({tool['seconds'] / base:,.1f}x trinity-core's time)"
        )
    print("  prompts with a number or URL changed:")
    for tool in tools:
        files = [r["file"] for r in tool["results"] if r["changed"] and r["slice"] in SLICES]
        shown = ", ".join(files[:6]) + (f", ... ({len(files)} in all)" if len(files) > 6 else "")
        print(f"    {tool['name']:<28} {shown or 'none'}")


if __name__ == "__main__":
    main()
