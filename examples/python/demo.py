"""Registry look-ups and token counts of a sample document, as a Trinity user would run them."""

from __future__ import annotations

import sys
from pathlib import Path

import trinity_core as tc

doc_path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1] / "data" / "sample.md"
doc = doc_path.read_text()
registry = tc.Registry()

print(f"trinity-core {tc.__version__} (Python) · {len(registry)} models · {doc_path.name}: {len(doc)} chars")
print(f"{'model':<22} {'provider':<10} {'context':>9} {'tokens':>7} {'exact':>6} {'prompt $':>10} {'$/1K':>9}")
for name in ["gpt-4o", "gpt-4o-mini", "gpt-3.5-turbo", "claude-sonnet", "gemini-2.5-flash", "llama3.1:8b"]:
    m = registry.get(name)
    count = tc.count_message_tokens([{"role": "user", "content": doc}], m.id)
    cost = count["tokens"] * m.input_per_1m / 1_000_000
    print(
        f"{name:<22} {m.provider:<10} {m.context_window:>9,} {count['tokens']:>7} "
        f"{'yes' if not count['estimated'] else 'est.':>6} {cost:>10.6f} {registry.cost_per_1k(m.id)['blended']:>9.5f}"
    )

for enc in ("cl100k_base", "o200k_base"):
    print(f"{enc}: {tc.count_tokens(doc, encoding=enc)} tokens")
cheap_fast = [m.id for m in registry.by_cost(0.001) if m.typical_latency_ms <= 500][:5]
print("cheap (≤ $0.001/1K) and fast (≤ 500 ms):", ", ".join(cheap_fast))
try:
    registry.get("gpt-4o-mni")
except tc.NotFoundError as e:
    print(f"unknown model → {e.code}: {e}")
