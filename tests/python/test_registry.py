from __future__ import annotations

import json
from pathlib import Path

import pytest

import trinity_core as tc

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def acme(mid: str = "acme-1", **over: object) -> dict[str, object]:
    m: dict[str, object] = {
        "id": mid,
        "provider": "acme",
        "name": "Acme",
        "aliases": [f"{mid}-alias"],
        "context_window": 32000,
        "max_output_tokens": 4096,
        "input_per_1m": 1.0,
        "output_per_1m": 3.0,
        "cached_input_per_1m": None,
        "capabilities": ["chat", "tools"],
        "tokenizer": "cl100k_base",
        "typical_latency_ms": 300,
        "deprecation_date": None,
    }
    m.update(over)
    return m


def test_lookups() -> None:
    r = tc.Registry()
    assert len(r) >= 30
    m = r.get("gpt-4o")
    assert (m.id, m.provider, m.tokenizer) == ("gpt-4o", "openai", "o200k_base")
    assert r["openai/gpt-4o"] == m and "gpt-4o" in r and "nope" not in r
    assert m.supports("vision") and m.supports("function_calling")
    assert {x.provider for x in r.by_provider("anthropic")} == {"anthropic"}
    fast = r.by_latency(400)
    assert fast and all(x.typical_latency_ms <= 400 for x in fast)
    assert [x.typical_latency_ms for x in fast] == sorted(x.typical_latency_ms for x in fast)
    cheap = r.by_cost(0.001)
    assert all((x.input_per_1m + x.output_per_1m) / 2000 <= 0.001 for x in cheap)
    assert r.token_limit("gpt-4o") == m.context_window
    cost = r.cost_per_1k("gpt-4o")
    assert cost["input"] == pytest.approx(m.input_per_1m / 1000)
    assert cost["blended"] == pytest.approx((m.input_per_1m + m.output_per_1m) / 2000)
    assert m.to_dict()["id"] == "gpt-4o" and "Model(id=" in repr(m)
    # Prompt-cache minimums come from the registry's data, not from code.
    assert (m.cache_min_tokens, r.get("claude-haiku-4-5").cache_min_tokens) == (1024, 4096)


def test_unknown_model_suggests() -> None:
    with pytest.raises(tc.NotFoundError) as info:
        tc.Registry().get("claude-sonet-4-5")
    assert info.value.code == "not_found"
    assert info.value.details is not None
    assert "claude-sonnet-4-5" in info.value.details["suggestions"]
    assert "did you mean" in str(info.value)


def test_add_update_and_errors() -> None:
    r = tc.Registry()
    added = r.add_model(acme())
    assert added.id == "acme-1" and r.get("acme-1-alias").id == "acme-1"
    with pytest.raises(tc.InvalidInputError):
        r.add_model(acme())
    with pytest.raises(tc.InvalidInputError) as info:
        r.add_model(acme("acme-2", aliases=[], context_window=0))
    assert info.value.details == {"field": "context_window"}
    with pytest.raises(ValueError):  # InvalidInputError is a ValueError too
        r.add_model({"id": "x"})
    with pytest.raises(tc.InvalidInputError):
        r.add_model("not a dict")  # type: ignore[arg-type]
    assert r.update_model("acme-1", {"input_per_1m": 2.0}).input_per_1m == 2.0
    assert r.update_model("acme-1", typical_latency_ms=99).typical_latency_ms == 99
    with pytest.raises(tc.NotFoundError):
        r.update_model("ghost", {"input_per_1m": 1.0})
    with pytest.raises(tc.InvalidInputError):
        r.by_capability("telepathy")
    with pytest.raises(tc.InvalidInputError):
        r.by_cost("cheap")  # type: ignore[arg-type]
    # instances are independent; default() is shared
    assert "acme-1" not in tc.Registry()
    assert tc.Registry.default().get("gpt-4o").id == "gpt-4o"
    assert len(tc.Registry.empty()) == 0


def test_override_file_and_litellm(tmp_path: Path) -> None:
    r = tc.Registry()
    f = tmp_path / "models.json"
    f.write_text(json.dumps({"models": [{"id": "gpt-4o", "typical_latency_ms": 42}, acme("mine")]}))
    assert r.load_file(str(f)) == {"added": 1, "updated": 1, "skipped": 0}
    assert r.get("gpt-4o").typical_latency_ms == 42 and r.get("mine").provider == "acme"
    report = r.load_litellm(str(FIXTURES / "litellm_model_prices_sample.json"))
    assert report["added"] >= 1 and report["updated"] >= 1
    assert r.get("gpt-4o").typical_latency_ms == 42, "our fields survive a LiteLLM merge"
    with pytest.raises(tc.IoError):
        r.load_file(str(tmp_path / "missing.json"))


def test_litellm_real_file_if_installed() -> None:
    """LiteLLM's own copy of its price file loads unchanged (when litellm is installed)."""
    import importlib.util

    spec = importlib.util.find_spec("litellm")  # located, not imported: importing litellm is slow
    if spec is None or spec.origin is None:
        pytest.skip("litellm is not installed (make setup-python installs it)")
    path = Path(spec.origin).parent / "model_prices_and_context_window_backup.json"
    r = tc.Registry.empty()
    report = r.load_litellm(str(path))
    assert report["added"] > 500
    assert r.get("gpt-4o").context_window > 0
