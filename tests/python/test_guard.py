"""The run guard from Python (trinity_core.RunGuard over the core's trinity_core::guard): step
and time limits, a hung coroutine and a hung LLM call cut at the deadline, loops found through
run_step, the event log (also after SIGKILL), bad input, and the performance report."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

import trinity_core as tc
from trinity_core import guard as guard_module
from trinity_core.testing import MockServer

REPORT_FIGURES = {"count", "total", "average", "min", "max", "p50", "p95", "p99"}
METRICS = ["step_duration_ms", "llm_call_duration_ms", "input_tokens", "output_tokens", "tokens", "cost_usd"]


def reason(e: tc.GuardStoppedError) -> str:
    assert e.code == "guard_stopped" and e.details is not None
    return str(e.details["reason"])


# ---------------------------------------------------------------------------------------------
# Limits


def test_max_steps_refuses_the_step_after_the_limit_and_stays_stopped() -> None:
    guard = tc.RunGuard(max_steps=3)
    assert guard.run_id.startswith("run_") and guard.remaining_s is None and guard.stopped is None
    assert guard.record_step("a", {"i": 1}, result="x") == 1
    n = guard.begin_step("b", {"i": 2})
    guard.finish_step(n, ["y"])
    assert guard.record_step("c", {"i": 3}) == 3
    with pytest.raises(tc.GuardStoppedError) as info:
        guard.begin_step("d", {"i": 4})
    assert reason(info.value) == "max_steps"
    assert info.value.details is not None and info.value.details["step"] == 4 and info.value.details["limit"] == 3
    # Sticky: every later call answers the same stop.
    with pytest.raises(tc.GuardStoppedError):
        guard.check()
    with pytest.raises(tc.GuardStoppedError):
        guard.record_step("e")
    stopped = guard.stopped
    assert isinstance(stopped, tc.GuardStoppedError) and reason(stopped) == "max_steps"
    report = guard.performance_report()
    assert report["steps"] == 3 and report["failed_steps"] == 0
    assert report["stopped"] is not None and report["stopped"]["reason"] == "max_steps"
    assert guard.steps == 3


def test_keywords_win_over_the_dict() -> None:
    guard = tc.RunGuard({"max_steps": 1, "max_time_s": 600}, max_steps=2)
    guard.record_step("a")
    guard.record_step("b")  # allowed by the keyword's 2, not the dict's 1
    with pytest.raises(tc.GuardStoppedError):
        guard.record_step("c")
    remaining = guard.remaining_s
    assert remaining is not None and 590 < remaining <= 600
    assert 0 <= guard.elapsed_s < 10


def _hang_paths() -> list[str]:
    return ["timeout", "task"]  # asyncio.timeout (3.11+) and the 3.10 path (a task of its own)


@pytest.fixture(params=_hang_paths())
def deadline_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "task":
        monkeypatch.setattr(guard_module, "sys", types.SimpleNamespace(version_info=(3, 10)))
    elif sys.version_info < (3, 11):
        pytest.skip("asyncio.timeout needs Python 3.11")
    return str(request.param)


def test_a_hanging_coroutine_is_cancelled_at_the_deadline(deadline_path: str) -> None:
    guard = tc.RunGuard(max_time_s=0.5)
    seen: list[str] = []

    async def hang() -> str:
        seen.append("started")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return "never"

    async def run() -> None:
        assert await guard.run_step("quick", {"n": 1}, lambda: asyncio.sleep(0, "ok")) == "ok"
        await guard.run_step("hang", {"n": 2}, hang)

    started = time.monotonic()
    with pytest.raises(tc.GuardStoppedError) as info:
        asyncio.run(run())
    took = time.monotonic() - started
    assert took < 5, took  # cut at the deadline, not after the 30 s sleep
    assert seen == ["started", "cancelled"], "the awaited coroutine itself saw the cancellation"
    d = info.value.details
    assert d is not None and d["reason"] == "max_time" and d["cancelled"] is True
    assert d["step"] == 2 and d["action"] == "hang"
    report = guard.performance_report()
    assert report["steps"] == 2 and report["failed_steps"] == 1
    assert report["stopped"] is not None and report["stopped"]["reason"] == "max_time"
    with pytest.raises(tc.GuardStoppedError):
        guard.begin_step("after")


def test_an_awaitable_passed_directly_is_cancelled_too(deadline_path: str) -> None:
    guard = tc.RunGuard(max_time_s=0.3)
    cancelled = asyncio.Event()

    async def hang() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def run() -> bool:
        with pytest.raises(tc.GuardStoppedError):
            await guard.run_step("hang", None, hang())
        return cancelled.is_set()

    assert asyncio.run(run())


def test_the_works_own_timeout_error_is_not_the_deadline(deadline_path: str) -> None:
    guard = tc.RunGuard(max_time_s=30)

    async def times_out() -> None:
        await asyncio.sleep(0)
        raise TimeoutError("upstream timed out")

    with pytest.raises(TimeoutError, match="upstream"):
        asyncio.run(guard.run_step("fetch", {}, times_out))
    assert guard.stopped is None
    assert guard.performance_report()["failed_steps"] == 1


def test_run_step_sync_stops_after_a_step_that_ran_past_the_deadline() -> None:
    guard = tc.RunGuard(max_time_s=0.2)
    assert guard.run_step_sync("quick", {}, lambda: 42) == 42
    with pytest.raises(tc.GuardStoppedError) as info:
        guard.run_step_sync("slow", {}, lambda: time.sleep(0.4))
    assert reason(info.value) == "max_time"
    with pytest.raises(TypeError, match="awaitable"):
        tc.RunGuard().run_step_sync("wrong", {}, lambda: asyncio.sleep(0))  # type: ignore[unused-coroutine]


# ---------------------------------------------------------------------------------------------
# Results, errors, cancellation from outside


def test_run_step_returns_results_and_reraises_errors() -> None:
    guard = tc.RunGuard()

    async def ok() -> dict[str, int]:
        return {"n": 1}

    async def fails() -> None:
        raise tc.NotFoundError("no such file")

    async def run() -> None:
        assert await guard.run_step("read", {"path": "a"}, ok) == {"n": 1}
        assert await guard.run_step("plain", {}, lambda: 7) == 7  # a plain value is a step too
        with pytest.raises(tc.NotFoundError):
            await guard.run_step("read", {"path": "b"}, fails)
        with pytest.raises(ZeroDivisionError):
            await guard.run_step("div", {}, lambda: 1 / 0)

    asyncio.run(run())
    report = guard.performance_report()
    assert report["steps"] == 4 and report["failed_steps"] == 2
    assert guard.stopped is None


def test_cancelling_the_caller_cancels_the_work_and_records_the_step(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    guard = tc.RunGuard(event_log=log)
    seen: list[str] = []

    async def hang() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def run() -> None:
        task: asyncio.Task[None] = asyncio.create_task(guard.run_step("hang", {}, hang))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert seen == ["cancelled"]
    assert guard.stopped is None  # a cancellation from outside is not a stop
    assert guard.performance_report()["failed_steps"] == 1
    steps = [r for r in tc.read_event_log(log)["records"] if r["type"] == "step"]
    assert steps[0]["error.type"] == "cancelled"
    guard.record_step("next")  # the run goes on


def test_errors_are_recorded_by_code(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    guard = tc.RunGuard(event_log=str(log), loops={"enabled": False})
    guard.record_step("a", error=tc.NotFoundError("missing"))
    guard.record_step("b", error=KeyError("k"))
    guard.record_step("c", error={"code": "exit_1", "message": "command failed"})
    n = guard.begin_step("d")
    guard.finish_step(n, error=tc.RateLimitedError("slow down"))
    steps = [r for r in tc.read_event_log(log)["records"] if r["type"] == "step"]
    assert [s["error.type"] for s in steps] == ["not_found", "KeyError", "exit_1", "rate_limited"]
    assert [s["outcome"] for s in steps] == ["error"] * 4


def test_values_that_are_not_json_are_kept_by_repr(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    guard = tc.RunGuard({"event_log": log}, log_arguments=True)  # a path-like in the dict too

    class Thing:
        def __repr__(self) -> str:
            return "Thing()"

    guard.record_step("open", {"path": Path("/tmp/x"), "opts": (1, Thing()), 3: "three"}, result={Thing()})
    n = guard.begin_step("again", [Thing()])
    guard.finish_step(n, Thing())
    steps = [r for r in tc.read_event_log(log)["records"] if r["type"] == "step"]
    assert steps[0]["gen_ai.tool.call.arguments"] == {
        "path": "PosixPath('/tmp/x')",
        "opts": [1, "Thing()"],
        "3": "three",
    }
    assert steps[1]["gen_ai.tool.call.arguments"] == ["Thing()"]


# ---------------------------------------------------------------------------------------------
# Loops


def test_a_loop_is_detected_through_run_step() -> None:
    guard = tc.RunGuard()

    async def search() -> list[str]:
        return ["same result"]

    async def run() -> int:
        for i in range(1, 20):
            try:
                await guard.run_step("search", {"q": "rust guard"}, search)
            except tc.GuardStoppedError as e:
                assert e.details is not None
                assert e.details["reason"] == "loop_detected" and e.details["rule"] == "same_action"
                assert e.details["steps"] == [1, 2, 3, 4, 5]
                return i
        raise AssertionError("no loop found")

    assert asyncio.run(run()) == 5
    report = guard.performance_report()
    assert report["stopped"] is not None and report["stopped"]["details"]["rule"] == "same_action"


def test_the_same_error_again_stops_the_run_from_that_error() -> None:
    guard = tc.RunGuard()

    async def broken() -> None:
        raise ValueError("SyntaxError at line 3")

    async def run() -> tc.GuardStoppedError:
        for _ in range(2):
            with pytest.raises(ValueError):
                await guard.run_step("edit", {"n": _}, broken)
        with pytest.raises(tc.GuardStoppedError) as info:
            await guard.run_step("edit", {"n": 9}, broken)
        return info.value

    stop = asyncio.run(run())
    assert stop.details is not None and stop.details["rule"] == "same_error"
    assert isinstance(stop.__cause__, ValueError)


# ---------------------------------------------------------------------------------------------
# LLM calls


def mock_client(server: MockServer) -> tc.Client:
    return tc.Client(
        {
            "providers": {"m": {"kind": "openai", "base_url": server.url + "/v1", "api_key": "k"}},
            "retry": {"max_attempts": 1},
        }
    )


REQUEST: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}


def test_a_guarded_chat_to_a_hanging_server_ends_at_the_deadline() -> None:
    config = {"seed": 3, "default_response": "echo", "latency": {"dist": "fixed", "ms": 30000}}
    with MockServer(config) as server:
        client = mock_client(server)
        guard = tc.RunGuard(max_time_s=0.5)
        started = time.monotonic()
        with pytest.raises(tc.GuardStoppedError) as info:
            asyncio.run(guard.chat(client, REQUEST))
        assert time.monotonic() - started < 5  # far from the server's 30 s
        assert reason(info.value) == "max_time"
        report = guard.performance_report()
        assert (report["llm_calls"], report["failed_llm_calls"]) == (1, 1)
        # The blocking twin is cut at the deadline as well.
        sync_guard = tc.RunGuard(max_time_s=0.3)
        started = time.monotonic()
        with pytest.raises(tc.GuardStoppedError) as info:
            sync_guard.chat_sync(client, **REQUEST)
        assert time.monotonic() - started < 5
        assert reason(info.value) == "max_time"


def test_a_guarded_chat_is_recorded_with_tokens_and_cost(tmp_path: Path) -> None:
    with MockServer({"seed": 3, "default_response": "echo"}) as server:
        client = mock_client(server)
        guard = tc.RunGuard(max_steps=3, event_log=tmp_path / "run.jsonl")
        r = asyncio.run(guard.chat(client, REQUEST))
        r2 = guard.chat_sync(client, model="gpt-4o-mini", messages=[{"role": "user", "content": "again"}])
    report = guard.performance_report()
    assert report["llm_calls"] == 2 and report["failed_llm_calls"] == 0
    assert report["input_tokens"]["total"] == r.usage.prompt_tokens + r2.usage.prompt_tokens
    assert report["output_tokens"]["total"] == r.usage.completion_tokens + r2.usage.completion_tokens
    assert report["cost_usd"]["count"] == 2, "gpt-4o-mini is priced"
    assert r.cost_usd is not None and r2.cost_usd is not None
    assert report["cost_usd"]["total"] == pytest.approx(r.cost_usd + r2.cost_usd, rel=1e-6)
    calls = [x for x in tc.read_event_log(tmp_path / "run.jsonl")["records"] if x["type"] == "llm_call"]
    assert [c["gen_ai.request.model"] for c in calls] == ["gpt-4o-mini"] * 2
    assert calls[0]["gen_ai.usage.input_tokens"] == r.usage.prompt_tokens


def test_llm_calls_recorded_from_outside_and_the_report_figures() -> None:
    guard = tc.RunGuard()
    for ms, out in [(100, 10), (200, 20), (300, 30), (400, 40), (1000, 100)]:
        guard.record_llm_call(
            "claude-sonnet-4",
            input_tokens=1000,
            output_tokens=out,
            cost_usd=out * 15e-6,
            duration_ms=ms,
            provider="anthropic",
        )
    guard.record_llm_call("gpt-4o", duration_ms=50, error=tc.RateLimitedError("429"))
    guard.record_llm_call("unknown-model", input_tokens=5, output_tokens=5)  # unpriced
    for ms in (10, 20, 30):
        guard.record_step("tool", {"ms": ms}, result=ms, duration_ms=ms)
    report = guard.get_performance_report()
    assert report == guard.performance_report() | {"elapsed_ms": report["elapsed_ms"]}
    for metric in METRICS:
        assert set(report[metric]) == REPORT_FIGURES, metric  # type: ignore[literal-required]
    d = report["llm_call_duration_ms"]
    assert d["count"] == 7
    tokens = report["output_tokens"]
    assert (tokens["count"], tokens["min"], tokens["max"], tokens["p50"]) == (6, 5, 100, 20)
    cost = report["cost_usd"]
    assert cost["count"] == 5 and cost["total"] == pytest.approx(0.003) and cost["max"] == pytest.approx(0.0015)
    assert (report["llm_calls"], report["failed_llm_calls"], report["unpriced_llm_calls"]) == (7, 1, 1)
    s = report["step_duration_ms"]
    assert (s["count"], s["min"], s["max"], s["average"], s["p50"], s["p99"]) == (3, 10, 30, 20, 20, 30)
    empty = tc.RunGuard().performance_report()["tokens"]
    assert empty["count"] == 0 and empty["p50"] is None and empty["average"] is None


# ---------------------------------------------------------------------------------------------
# The event log


def test_the_event_log_has_the_run_start_each_step_and_the_stop(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    guard = tc.RunGuard(max_steps=2, event_log=log)
    guard.record_step("read", {"path": "a"}, result="text")
    guard.record_step("read", {"path": "b"}, error={"code": "not_found", "message": "no b"})
    with pytest.raises(tc.GuardStoppedError):
        guard.record_step("read", {"path": "c"})
    contents = tc.read_event_log(log)
    records = contents["records"]
    assert [r["type"] for r in records] == ["run_start", "step", "step", "run_stop"]
    assert {r["run_id"] for r in records} == {guard.run_id}
    assert records[0]["max_steps"] == 2
    assert [r["step"] for r in records[1:3]] == [1, 2]
    assert [r["outcome"] for r in records[1:3]] == ["ok", "error"]
    assert records[1]["gen_ai.tool.name"] == "read" and "gen_ai.tool.call.arguments" not in records[1]
    assert records[3]["reason"] == "max_steps"
    assert contents["dropped_lines"] == [] and contents["torn_tail"] is False
    status = guard.performance_report()["event_log"]
    assert status is not None and status["lines_written"] == 4 and status["write_errors"] == 0


CHILD = """
import itertools, sys
import trinity_core as tc
guard = tc.RunGuard(event_log=sys.argv[1], log_arguments=True, loops={"enabled": False})
filler = "x" * 200_000  # big lines, so that some kills land inside a write
for i in itertools.count():
    guard.record_step("work", {"i": i, "filler": filler}, result=i)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_the_event_log_is_valid_after_sigkill(tmp_path: Path) -> None:
    for round in range(3):
        log = tmp_path / f"events-{round}.jsonl"
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(log)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            # Kill at a different size each round, somewhere in the middle of logging…
            at = 1_000_000 + round * 700_001
            deadline = time.monotonic() + 60
            while not log.exists() or log.stat().st_size < at:
                assert time.monotonic() < deadline, "the child wrote too little"
                assert child.poll() is None, child.stderr.read() if child.stderr else "child exited"
                time.sleep(0.001)
            time.sleep(round * 0.000397)  # …and at a different moment of a step
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            if child.stderr:
                child.stderr.close()
        assert child.returncode == -signal.SIGKILL
        contents = tc.read_event_log(log)
        total_lines = log.read_bytes().count(b"\n") + 1
        # At most the last line is lost; everything before it is whole and in order.
        assert all(n == total_lines for n in contents["dropped_lines"]), contents["dropped_lines"]
        records = contents["records"]
        assert len(records) >= 3
        assert records[0]["type"] == "run_start"
        for i, r in enumerate(records[1:]):
            assert r["type"] == "step" and r["step"] == i + 1
            assert r["gen_ai.tool.call.arguments"]["i"] == i


def test_read_event_log_of_a_missing_file_is_an_io_error(tmp_path: Path) -> None:
    with pytest.raises(tc.IoError):
        tc.read_event_log(tmp_path / "nope.jsonl")


# ---------------------------------------------------------------------------------------------
# Bad input


def test_bad_settings_name_the_key() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"config": {"max_step": 3}}, "max_step"),
        ({"loops": {"same_actions": 4}}, "loops.same_actions"),
        ({"config": {"loops": {"repeat": 3}}}, "loops.repeat"),
        ({"max_steps": 0}, "max_steps"),
        ({"max_time_s": -1}, "max_time_s"),
        ({"config": {"loops": {"same_error": 1}}}, "loops.same_error"),
    ]
    for kwargs, path in cases:
        with pytest.raises(tc.InvalidInputError) as info:
            tc.RunGuard(**kwargs)
        assert info.value.details is not None and info.value.details["path"] == path, kwargs
        assert path.rsplit(".", 1)[-1] in str(info.value)
        assert isinstance(info.value, ValueError)
    with pytest.raises(TypeError):
        tc.RunGuard(max_step=3)  # type: ignore[call-arg]


def test_finishing_a_step_not_in_progress_is_invalid_input() -> None:
    guard = tc.RunGuard()
    with pytest.raises(tc.InvalidInputError) as info:
        guard.finish_step(99)
    assert info.value.details == {"step": 99}
    n = guard.begin_step("a")
    guard.finish_step(n, "done")
    with pytest.raises(tc.InvalidInputError):
        guard.finish_step(n, "again")
    m = guard.begin_step("b")
    with pytest.raises(tc.InvalidInputError, match="not both"):
        guard.finish_step(m, "x", error=ValueError("y"))
    with pytest.raises(tc.InvalidInputError, match="exception or a dict"):
        guard.finish_step(m, error="just a string")  # type: ignore[arg-type]
    with pytest.raises(tc.InvalidInputError) as info:
        guard.record_step("c", error={"message": "no code"})
    assert info.value.details is not None and info.value.details["path"] == "outcome.error"
    with pytest.raises(tc.InvalidInputError) as info:
        guard.record_step("c", duration_ms=-5)
    assert info.value.details is not None and info.value.details["path"] == "duration_ms"
    with pytest.raises(tc.InvalidInputError):
        guard.record_llm_call("m", cost_usd=-1)
    with pytest.raises(tc.InvalidInputError):
        guard.begin_step(42)  # type: ignore[arg-type]
    guard.finish_step(m, "still open after the refusals")
