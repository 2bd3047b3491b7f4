#!/usr/bin/env python3
"""Writes tests/fixtures/cost.json: every registry model x every usage shape, priced here with
exact fractions (an implementation independent of the core's), plus unknown, dated and prefixed
names and missing rates. Run after changing core/data/models.json: python3 scripts/gen_cost_fixture.py"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHAPES: dict[str, dict[str, int]] = {
    "plain": {"prompt_tokens": 1200, "completion_tokens": 300},
    "cached": {"prompt_tokens": 5000, "cached_tokens": 4000, "completion_tokens": 200},
    "cache-write-5m": {"prompt_tokens": 3000, "cache_write_tokens": 2000, "completion_tokens": 100},
    "cache-write-1h": {"prompt_tokens": 3000, "cache_write_1h_tokens": 2000, "completion_tokens": 100},
    "reasoning": {"prompt_tokens": 800, "completion_tokens": 1000, "reasoning_tokens": 800},
    "above-200k": {"prompt_tokens": 250_000, "cached_tokens": 10_000, "completion_tokens": 1000},
    "one-token": {"prompt_tokens": 1, "completion_tokens": 0},
}


def price(m: dict[str, Any], u: dict[str, int]) -> dict[str, Any]:
    """nano-USD, rounded half up once; or the unpriced reason."""
    g = {
        k: u.get(k, 0)
        for k in (
            "prompt_tokens",
            "completion_tokens",
            "cached_tokens",
            "cache_write_tokens",
            "cache_write_1h_tokens",
            "reasoning_tokens",
        )
    }
    tiers = [t for t in m.get("price_tiers", []) if g["prompt_tokens"] > t["above_tokens"]]
    tier = max(tiers, key=lambda t: t["above_tokens"]) if tiers else {}

    def rate(field: str) -> Fraction | None:
        v = tier.get(field, m.get(field))
        return None if v is None else Fraction(str(v))

    inp, out = rate("input_per_1m") or Fraction(0), rate("output_per_1m") or Fraction(0)
    parts = Fraction(0)
    for tokens, field in (
        ("cached_tokens", "cached_input_per_1m"),
        ("cache_write_tokens", "cache_write_5m_per_1m"),
        ("cache_write_1h_tokens", "cache_write_1h_per_1m"),
    ):
        if g[tokens]:
            r = rate(field)
            if r is None and inp != 0:
                return {"total_nano_usd": None, "unpriced_reason": f"missing_rate:{field}"}
            parts += g[tokens] * (r or 0)
    uncached = max(0, g["prompt_tokens"] - g["cached_tokens"] - g["cache_write_tokens"] - g["cache_write_1h_tokens"])
    reasoning = min(g["reasoning_tokens"], g["completion_tokens"])
    reasoning_rate = rate("reasoning_per_1m")
    parts += uncached * inp + (g["completion_tokens"] - reasoning) * out
    parts += reasoning * (out if reasoning_rate is None else reasoning_rate)
    nano = parts * 1000  # USD per 1M tokens -> nano-USD per token is x1000
    total = int(nano + Fraction(1, 2)) if nano >= 0 else 0
    result: dict[str, Any] = {"total_nano_usd": total, "unpriced_reason": None}
    if tier:
        result["tier_above_tokens"] = tier["above_tokens"]
    return result


def main() -> None:
    models = json.loads((ROOT / "core/data/models.json").read_text())["models"]
    by_id = {m["id"]: m for m in models}
    cases: list[dict[str, Any]] = []
    for m in models:
        for shape, usage in SHAPES.items():
            cases.append(
                {
                    "id": f"cost/{m['id']}/{shape}",
                    "op": "cost",
                    "input": {"model": m["id"], "usage": usage},
                    "expect": {"cost": price(m, usage)},
                }
            )
    extra = [
        ("dated-name", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5", SHAPES["cached"]),
        ("prefixed-name", "openai/gpt-4o", "gpt-4o", SHAPES["plain"]),
        ("vertex-dated-name", "vertex_ai/claude-haiku-4-5@20251001", "claude-haiku-4-5", SHAPES["cache-write-1h"]),
    ]
    for name, asked, real, usage in extra:
        cases.append(
            {
                "id": f"cost/{name}",
                "op": "cost",
                "input": {"model": asked, "usage": usage},
                "expect": {"cost": price(by_id[real], usage)},
            }
        )
    cases.append(
        {
            "id": "cost/unknown-model",
            "op": "cost",
            "input": {"model": "claude-opus-4-1-20250805", "usage": SHAPES["plain"]},
            "expect": {"cost": {"total_nano_usd": None, "unpriced_reason": "unknown_model"}},
        }
    )
    cases.append(
        {
            "id": "cost/bad-usage",
            "op": "cost",
            "input": {"model": "gpt-4o", "usage": {"prompt_tokens": "many"}},
            "expect": {"error": "invalid_input"},
        }
    )
    doc = {
        "about": "Cost cases: input {model, usage}, expect.cost a subset of the CostDetail (nano-USD "
        "totals priced independently by scripts/gen_cost_fixture.py), or expect.error.",
        "cases": cases,
    }
    (ROOT / "tests/fixtures/cost.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{len(cases)} cost cases")


if __name__ == "__main__":
    main()
