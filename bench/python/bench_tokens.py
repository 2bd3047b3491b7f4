"""Token counting and registry look-ups from Python, side by side with OpenAI's tiktoken.

Both tokenizers get the same BPE ranks (tiktoken's own files, verified by its hash check, with
no download) and the same inputs; each figure is the best of several runs. Ratios > 1 mean
trinity-core is faster.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import tiktoken  # noqa: E402
from tiktoken_offline import get_encoding  # noqa: E402

import trinity_core as tc  # noqa: E402

ENCODINGS = ("cl100k_base", "o200k_base")


def document(size: int = 1 << 20) -> str:
    """~1 MiB of mixed prose, code and multilingual text, the same every run."""
    rng = random.Random(42)
    sample = (ROOT / "examples" / "data" / "sample.md").read_text()
    extras = [
        "Les modèles de langage coûtent cher quand on les appelle sans cache. ",
        "大型语言模型的应用程序需要快速的令牌计数。 ",
        "Модели оплачиваются по токенам, поэтому считать их нужно точно. ",
        "for (let i = 0; i < items.length; i++) { total += items[i].price * qty; }\n",
        "🚀 ship it ✨ ",
    ]
    parts: list[str] = []
    n = 0
    while n < size:
        piece = sample if rng.random() < 0.5 else rng.choice(extras) * rng.randint(1, 20)
        words = piece.split(" ")
        rng.shuffle(words)
        piece = " ".join(words)
        parts.append(piece)
        n += len(piece.encode())
    return "".join(parts)


def short_strings(n: int = 100_000) -> list[str]:
    rng = random.Random(7)
    words = document(200_000).split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 30))) for _ in range(n)]


def best(fn: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def row(label: str, ours: float, theirs: float, unit: str, scale: float) -> None:
    ours_rate, theirs_rate = scale / ours, scale / theirs
    print(
        f"  {label:<36} trinity {ours_rate:>8.1f} {unit:<7} tiktoken {theirs_rate:>8.1f} {unit:<7}"
        f" ratio {theirs / ours:5.2f}x"
    )


def compare_encoding(name: str, doc: str, mb: float, shorts: list[str]) -> None:
    enc = get_encoding(name)
    assert tc.count_tokens(doc, encoding=name) == len(enc.encode_ordinary(doc)), "counts differ"
    print(f"{name}:")
    ours = best(lambda: tc.count_tokens(doc, encoding=name))
    theirs = best(lambda: len(enc.encode_ordinary(doc)))
    row("1 MB document, one call", ours, theirs, "MB/s", mb)
    ours = best(lambda: [tc.count_tokens(s, encoding=name) for s in shorts], 3)
    theirs = best(lambda: [len(enc.encode_ordinary(s)) for s in shorts], 3)
    row("100k short strings, one call each", ours, theirs, "kstr/s", len(shorts) / 1e3)
    ours = best(lambda: tc.count_tokens_batch(shorts, encoding=name), 3)
    theirs = best(lambda: [len(t) for t in enc.encode_ordinary_batch(shorts)], 3)
    row("100k short strings, batch call", ours, theirs, "kstr/s", len(shorts) / 1e3)


def main() -> None:
    doc = document()
    mb = len(doc.encode()) / 1e6
    shorts = short_strings()
    print(f"trinity-core {tc.__version__} vs tiktoken {tiktoken.__version__} · Python {sys.version.split()[0]}")
    avg = sum(map(len, shorts)) / len(shorts)
    print(f"large document: {mb:.2f} MB · short strings: {len(shorts):,} (avg {avg:.0f} chars)")
    for name in ENCODINGS:
        compare_encoding(name, doc, mb, shorts)

    reg = tc.Registry()
    n = 1_000_000
    t = best(lambda: [reg.get("gpt-4o") for _ in range(n)], 3)
    t_alias = best(lambda: [reg.get("openai/gpt-4o") for _ in range(n)], 3)
    print(
        f"registry: get by id {t / n * 1e9:.0f} ns/call · by alias {t_alias / n * 1e9:.0f} ns/call (target < 1000 ns)"
    )


if __name__ == "__main__":
    main()
