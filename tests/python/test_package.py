"""The package's contract: error classes, version agreement, stubs that match the module."""

from __future__ import annotations

import ast
import json
import pickle
from pathlib import Path

import pytest
import tomllib

import trinity_core as tc
from trinity_core import _native

ROOT = Path(__file__).resolve().parents[2]


def test_error_classes_match_the_core() -> None:
    kinds = tc.error_kinds()
    assert len(kinds) == 16
    for code, number, name in kinds:
        cls = getattr(tc, name)
        assert issubclass(cls, tc.TrinityError)
        assert (cls.code, cls.number) == (code, number)
    assert issubclass(tc.InvalidInputError, ValueError)


def test_errors_pickle_and_carry_details() -> None:
    try:
        tc.Registry().get("gpt-4-omni-max")
    except tc.NotFoundError as e:
        assert e.details is not None and e.details["model"] == "gpt-4-omni-max"
        again = pickle.loads(pickle.dumps(e))
        assert isinstance(again, tc.NotFoundError)


def test_a_panic_in_the_core_is_an_internal_error() -> None:
    with pytest.raises(tc.InternalError) as info:
        _native._panic_for_tests("boom")
    assert info.value.code == "internal" and "boom" in str(info.value)
    assert tc.count_tokens("still alive") > 0


def test_one_version_everywhere() -> None:
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    assert tc.__version__ == cargo
    pkg = ROOT / "package.json"
    if pkg.exists():
        assert json.loads(pkg.read_text())["version"] == cargo
    assert tc.ABI_VERSION >= 1


def test_stubs_match_the_module() -> None:
    tree = ast.parse((ROOT / "python" / "trinity_core" / "_native.pyi").read_text())
    stubbed = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    stubbed |= {t.id for n in tree.body if isinstance(n, ast.AnnAssign) for t in [n.target] if isinstance(t, ast.Name)}
    stubbed -= {
        "TokenCount",
        "CostPer1k",
        "LoadReport",
        "HealFix",
        "HealedHtml",
        "HealedCss",
        "CostDetail",
        "_CostParts",
    }  # typing-only
    stubbed -= {"PromptPasses", "OptimizedPrompt", "_CacheBreakpointBase", "CacheBreakpoint"}  # typing-only (prompt)
    stubbed -= {"PromptLayout", "DroppedText", "CompressedPrompt"}  # typing-only (prompt)
    stubbed -= {"CostSummary", "BudgetAlert", "TrackerStats", "DebugInfo", "LogSink"}  # typing-only (observe)
    stubbed -= {"Pruned", "ContextWindow", "Violation", "Prioritized", "ContextWarning"}  # typing-only (context)
    stubbed -= {"TokenizerStatus"}  # typing-only (tokens)
    stubbed -= {"MetricSummary", "StopInfo", "EventLogStatus", "PerformanceReport"}  # typing-only (guard)
    stubbed -= {"EventLogContents", "LoopSettings"}  # typing-only (guard)
    public = {n for n in dir(_native) if not n.startswith("__")} | {"__version__"}
    assert stubbed == public
    for cls in (
        tc.Registry,
        tc.Model,
        tc.Config,
        tc.Client,
        tc.ChatResponse,
        tc.ChatChunk,
        tc.ChatStream,
        tc.Usage,
        _native.RunGuard,
    ):
        stub = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
        methods = {f.name for f in stub.body if isinstance(f, ast.FunctionDef)} - {"__init__", "__hash__"}
        dunders = ("__getitem__", "__contains__", "__len__", "__aiter__", "__anext__", "__iter__", "__next__")
        real = {n for n in dir(cls) if not n.startswith("_") or n in dunders}
        assert methods == real, cls.__name__
