"""Replays every shared case in tests/fixtures/ through the Python API.

Semantics of each op and expect key match core/tests/conformance.rs. Passed case ids are
written to target/conformance/python.json; scripts/check_conformance.py fails the build if
any case is missing there (a skip is never silent).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import trinity_core as tc
from trinity_core.testing import MockServer

ROOT = Path(__file__).resolve().parents[3]
FILES = ["errors", "tokens", "registry", "config", "chat", "cache", "healer", "cost", "context", "guard"]
CASES = [c for f in FILES for c in json.loads((ROOT / "tests" / "fixtures" / f"{f}.json").read_text())["cases"]]
PASSED: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    # Every runner counts with the open-model tokenizers in target/tokenizers (fetched once).
    tc.set_tokenizer_dir(ROOT / "target" / "tokenizers")
    tc.fetch_tokenizers()
    yield
    tc.set_tokenizer_dir(None)
    out = ROOT / "target" / "conformance"
    out.mkdir(parents=True, exist_ok=True)
    (out / "python.json").write_text(json.dumps({"language": "python", "passed": PASSED}))


def text_of(inp: dict[str, Any]) -> str:
    return str(inp["text"]) * int(inp.get("repeat", 1))


def chat(case: dict[str, Any], stream: bool) -> dict[str, Any]:
    """Mock server from `server`, provider `p` from `provider`, then the request."""
    provider = dict(case["provider"])
    base_path = provider.pop("base_path", None)
    server = MockServer(case["server"]) if case["server"] is not None else None
    try:
        if server is not None:
            provider |= {"base_url": server.url + base_path, "api_key": "sk-test"}
        client = tc.Client({"providers": {"p": provider}})
        if not stream:
            r = client.chat_sync(case["input"])
            names = [t["function"]["name"] for t in r.tool_calls]
            return {"content": r.content, "finish_reason": r.finish_reason, "provider": r.provider, "tool_names": names}
        chunks = list(client.chat_stream_sync(case["input"]))
        finish = next((c.finish_reason for c in chunks if c.finish_reason), None)
        return {
            "content": "".join(c.delta for c in chunks),
            "finish_reason": finish,
            "chunks": sum(1 for c in chunks if c.delta),
        }
    finally:
        if server is not None:
            server.stop()


def heal(inp: dict[str, Any], key: str) -> dict[str, Any]:
    """`{text, fix_rules, idempotent}`; `<key>_hex` inputs go in as bytes (to test non-UTF-8)."""
    fn = tc.heal_html if key == "html" else tc.heal_css
    source = bytes.fromhex(inp[f"{key}_hex"]) if f"{key}_hex" in inp else inp[key]
    out: dict[str, Any] = dict(fn(source, inp.get("options")))
    again: dict[str, Any] = dict(fn(out[key], inp.get("options")))
    return {"text": out[key], "fix_rules": [f["rule"] for f in out["fixes"]], "idempotent": again[key] == out[key]}


def context_op(op: str, inp: dict[str, Any]) -> dict[str, Any]:
    """The whole result, as the fixture's `expect.result` holds it (warnings without messages)."""
    if op == "prune_context":
        return dict(tc.prune_context(inp["messages"], inp["model"], **inp.get("options", {})))
    if op == "prioritize_context":
        return dict(tc.prioritize_context(inp["items"], inp.get("query")))
    if op == "warn_if_too_large":
        warnings = tc.warn_if_too_large(inp["request"], inp.get("model"))
        return {"warnings": [{k: w[k] for k in ("code", "tokens", "limit", "path")} for w in warnings]}
    if op == "available_context_window":
        opts = {k: inp[k] for k in ("reserve_output_tokens", "max_input_tokens") if k in inp}
        return dict(tc.available_context_window(inp["model"], **opts))
    return {"violation": tc.validate_conversation(inp["messages"], inp["dialect"])}


def guard_replay(inp: dict[str, Any]) -> dict[str, Any]:
    """Reports each step of `steps` to a guard made from `config` until it stops the run: where
    (1-based) and why it stopped (None if it did not), and the steps the report counts."""
    guard = tc.RunGuard(inp.get("config"))
    stopped = None
    for i, step in enumerate(inp["steps"], start=1):
        action, outcome = step["action"], step["outcome"]
        try:
            if "error" in outcome:
                guard.record_step(action["name"], action.get("arguments"), error=outcome["error"])
            else:
                guard.record_step(action["name"], action.get("arguments"), result=outcome["ok"])
        except tc.GuardStoppedError as e:
            d = e.details or {}
            stopped = {"at": i, "reason": d.get("reason"), "rule": d.get("rule"), "steps": d.get("steps")}
            break
    report = guard.performance_report()
    return {"stopped": stopped, "steps": report["steps"], "failed_steps": report["failed_steps"]}


CONTEXT_OPS = {
    "prune_context",
    "prioritize_context",
    "warn_if_too_large",
    "available_context_window",
    "validate_conversation",
}


def run(case: dict[str, Any], reg: tc.Registry) -> dict[str, Any]:
    op, inp = case["op"], case["input"]
    if op in CONTEXT_OPS:
        return context_op(op, inp)
    if op in ("heal_html", "heal_css"):
        return heal(inp, op.removeprefix("heal_"))
    if op in ("chat", "chat_stream"):
        return chat(case, op == "chat_stream")
    if op == "error_kind":
        cls = next(
            c
            for c in vars(tc).values()
            if isinstance(c, type) and getattr(c, "code", None) == inp["code"] and c is not tc.TrinityError
        )
        return {"number": cls.number, "class": cls.__name__}
    if op == "count_tokens":
        return {"tokens": tc.count_tokens(text_of(inp), model=inp.get("model"), encoding=inp.get("encoding"))}
    if op == "count_tokens_batch":
        return {"counts": tc.count_tokens_batch(inp["texts"], model=inp.get("model"), encoding=inp.get("encoding"))}
    if op == "count_message_tokens":
        return dict(tc.count_message_tokens(inp["messages"], inp["model"]))
    if op == "get_model":
        return {"model": reg.get(inp["name"]).to_dict()}
    if op == "token_limit":
        return {"value": reg.token_limit(inp["name"])}
    if op == "cost_per_1k":
        return {"value": reg.cost_per_1k(inp["name"])["blended"]}
    if op == "supports_feature":
        return {"value": reg.supports_feature(inp["name"], inp["feature"])}
    if op in ("by_provider", "by_capability", "by_latency", "by_cost"):
        arg = {
            "by_provider": "provider",
            "by_capability": "capability",
            "by_latency": "max_ms",
            "by_cost": "max_per_1k",
        }
        return {"models": [m.id for m in getattr(reg, op)(inp[arg[op]])]}
    if op == "add_model":
        reg.add_model(inp["model"])
        return {"ok": True}
    if op == "update_model":
        return {"model": reg.update_model(inp["name"], inp["updates"]).to_dict()}
    if op == "parse_config":
        return {"config": tc.Config.parse(inp["text"], env=False).to_dict()}
    if op == "cache_key":
        cache = tc.Cache(namespace=inp.get("namespace", "trinity"), strategy=inp.get("strategy", "content"))
        return {"key": cache.key(inp["request"], inp.get("provider"))}
    if op == "cost":
        return {"cost": tc.cost(inp["model"], inp["usage"])}
    if op == "guard_replay":
        return guard_replay(inp)
    raise AssertionError(f"unknown op {op!r}: every runner must handle every op")


def dotted(d: Any, path: str) -> Any:
    for k in path.split("."):
        d = d[k]
    return d


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    reg = tc.Registry()
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises(tc.TrinityError) as info:
            run(case, reg)
        assert info.value.code == expect["error"]
        if "path" in expect:
            assert info.value.details is not None and info.value.details["path"] == expect["path"]
        if "suggestions_include" in expect:
            assert info.value.details is not None
            assert expect["suggestions_include"] in info.value.details["suggestions"]
        PASSED.append(case["id"])
        return
    got = run(case, reg)
    if "result" in expect:
        assert got == expect["result"]
    for key in (
        "tokens",
        "counts",
        "number",
        "class",
        "estimated",
        "encoding",
        "ok",
        "content",
        "finish_reason",
        "provider",
        "tool_names",
        "key",
        "fix_rules",
        "idempotent",
    ):
        if key in expect:
            assert got[key] == expect[key], key
    for want in expect.get("contains", []):
        assert want in got["text"], want
    if "value" in expect:
        if isinstance(expect["value"], bool):
            assert got["value"] is expect["value"]
        else:
            assert math.isclose(got["value"], expect["value"], abs_tol=1e-9)
    for k, v in expect.get("model", {}).items():
        assert got["model"][k] == v, k
    for k, v in expect.get("cost", {}).items():
        assert got["cost"].get(k) == v, k
    for path, v in expect.get("values", {}).items():
        assert dotted(got["config"], path) == v, path
    listed = got.get("models", [])
    assert all(i in listed for i in expect.get("includes", []))
    assert not any(i in listed for i in expect.get("excludes", []))
    assert len(listed) >= expect.get("min_count", 0)
    if "min_chunks" in expect:
        assert got["chunks"] >= expect["min_chunks"]
    if "count" in expect:
        assert len(listed) == expect["count"]
    if "sorted_by" in expect:

        def metric(mid: str) -> float:
            m = reg.get(mid)
            return (
                (m.input_per_1m + m.output_per_1m) / 2000
                if expect["sorted_by"] == "blended_cost"
                else m.typical_latency_ms
            )

        values = [metric(i) for i in listed]
        assert values == sorted(values)
    if "then_get" in expect:
        m = reg.get(expect["then_get"]["name"]).to_dict()
        for k, v in expect["then_get"]["model"].items():
            assert m[k] == v
    PASSED.append(case["id"])
