"""Issue 16: trinity_core.batch drives the shared small batch (tests/fixtures/batch) against the
real mock server with the results every language gets: every custom_id once and joined to its
own answer, the summary's counts, a cancelled task that leaves valid files and a resume that
finishes exactly the rest, status agreeing, bad input naming its line."""

from __future__ import annotations

import _thread
import asyncio
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import trinity_core as tc
from trinity_core import batch
from trinity_core.testing import MockServer

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "batch"
CASES: dict[str, Any] = json.loads((FIXTURES / "cases.json").read_text())
INPUT = FIXTURES / CASES["input"]
IDS = [json.loads(line)["custom_id"] for line in INPUT.read_text().splitlines()]


def client_for(server: MockServer) -> tc.Client:
    return tc.Client(json.loads(json.dumps(CASES["config"]).replace("{url}", server.url)))


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_lines(lines: list[dict[str, Any]]) -> None:
    """Each line joined to its own request: the echo model answers with the prompt."""
    for line in lines:
        cid = line["custom_id"]
        if cid in CASES["answers"]:
            assert line["response"]["body"]["choices"][0]["message"]["content"] == CASES["answers"][cid]
            assert line["error"] is None
        else:
            assert line["response"] is None
            assert line["error"]["code"] == CASES["failed"][cid], cid


def check_summary(summary: dict[str, Any]) -> None:
    for key, want in CASES["summary"].items():
        assert summary[key] == want, key
    assert sorted(f["custom_id"] for f in summary["failed_requests"]) == sorted(CASES["failed"])


def stable(line: dict[str, Any]) -> dict[str, Any]:
    """A line without the ids the mock and the engine assign per call."""
    line = json.loads(json.dumps(line))
    line["trinity"]["request_id"] = None
    if line["response"] is not None:
        line["response"]["request_id"] = None
        line["response"]["body"]["id"] = None
    return line


def test_a_small_batch_streams_every_result_once_and_reports_the_summary(tmp_path: Path) -> None:
    async def go() -> tuple[list[dict[str, Any]], batch.BatchRun]:
        run = batch.run(client, INPUT, tmp_path / "out.jsonl", concurrency=CASES["concurrency"])
        assert run.summary is None
        assert run.progress["succeeded"] + run.progress["failed"] == 0, "not started before the first line"
        lines = []
        async for line in run:
            lines.append(line)
            p = run.progress
            # Every line read is counted; the counters always add up.
            assert p["succeeded"] + p["failed"] >= len(lines)
            assert p["skipped"] + p["succeeded"] + p["failed"] + p["remaining"] == p["total"] == len(IDS)
        return lines, run

    with MockServer(CASES["server"]) as server:
        client = client_for(server)
        streamed, run = asyncio.run(go())
        assert sorted(line["custom_id"] for line in streamed) == sorted(IDS), "every custom_id once"
        check_lines(streamed)
        assert run.summary is not None
        check_summary(dict(run.summary))
        end = run.progress
        assert (end["succeeded"], end["failed"], end["remaining"], end["in_flight"]) == (
            run.summary["succeeded"],
            run.summary["failed"],
            0,
            0,
        )
        assert end["cost_usd"] == pytest.approx(run.summary["cost_usd"])
        out = read_lines(tmp_path / "out.jsonl")
        assert [line["custom_id"] for line in out] == IDS, "the output is in input order"
        assert out == sorted(streamed, key=lambda line: IDS.index(line["custom_id"]))
        errors = read_lines(tmp_path / "out.errors.jsonl")
        assert sorted(line["custom_id"] for line in errors) == sorted(CASES["failed"])
        status = batch.status(tmp_path / "out.jsonl")
        check_summary(dict(status))
        assert status["cost_usd"] == pytest.approx(run.summary["cost_usd"])
        # The blocking twin gives the same results.
        summary = batch.run_sync(client, INPUT, tmp_path / "sync.jsonl", concurrency=CASES["concurrency"])
        check_summary(dict(summary))
        assert [stable(x) for x in read_lines(tmp_path / "sync.jsonl")] == [stable(x) for x in out]
        # A run into an output that has a journal must be resumed, not restarted.
        with pytest.raises(tc.InvalidInputError, match="resume"):
            batch.run_sync(client, INPUT, tmp_path / "out.jsonl")


def test_a_cancelled_task_leaves_valid_files_and_a_resume_finishes_exactly_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    first: list[dict[str, Any]] = []

    async def cancelled() -> batch.BatchRun:
        run = batch.run(client, INPUT, out, concurrency=2)
        got_five = asyncio.Event()

        async def consume() -> None:
            async for line in run:
                first.append(line)
                if len(first) == 5:
                    got_five.set()

        task = asyncio.create_task(consume())
        await got_five.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return run

    async def resumed() -> tuple[list[dict[str, Any]], batch.BatchRun]:
        run = batch.run(client, INPUT, out, resume=True, concurrency=CASES["concurrency"])
        return [line async for line in run], run

    with MockServer(CASES["slow_server"]) as server:
        client = client_for(server)
        run = asyncio.run(cancelled())
        # The task ended once the files were valid: the summary is there and agrees with them.
        assert run.summary is not None
        assert run.summary["stopped"] == "cancelled" and not run.summary["complete"]
        done = run.summary["succeeded"] + run.summary["failed"]
        assert 5 <= done < 20 and run.summary["remaining"] == 20 - done
        part = read_lines(tmp_path / "out.jsonl.part")
        assert len(part) == done and len({line["custom_id"] for line in part}) == done
        assert {line["custom_id"] for line in first} <= {line["custom_id"] for line in part}
        status = batch.status(out)
        assert (status["succeeded"], status["failed"], status["remaining"]) == (
            run.summary["succeeded"],
            run.summary["failed"],
            run.summary["remaining"],
        )
        rest, again = asyncio.run(resumed())
        assert again.summary is not None
        assert again.summary["skipped"] == done
        ids = [line["custom_id"] for line in rest]
        assert len(ids) == 20 - done and not set(ids) & {line["custom_id"] for line in part}, "exactly the rest"
        check_lines(rest)
        check_summary({**again.summary, "skipped": 0})
        out_lines = read_lines(out)
        assert [line["custom_id"] for line in out_lines] == IDS
        check_lines(out_lines)
        check_summary(dict(batch.status(out)))


def test_a_second_cancel_ends_the_grace_period(tmp_path: Path) -> None:
    async def go() -> tuple[batch.BatchRun, float]:
        run = batch.run(client, INPUT, tmp_path / "out.jsonl", concurrency=2, grace_s=30)

        async def consume() -> None:
            async for _ in run:
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)  # two requests in flight, each answered after 3 s
        started = time.monotonic()
        task.cancel()  # first: admission stops, the two may take their 30 s
        await asyncio.sleep(0.2)
        assert not task.done(), "the task waits for the run to wind down"
        task.cancel()  # second: they are cancelled now
        with pytest.raises(asyncio.CancelledError):
            await task
        return run, time.monotonic() - started

    with MockServer(seed=7, default_response="echo", latency={"dist": "fixed", "ms": 3_000}) as server:
        client = client_for(server)
        run, took = asyncio.run(go())
        assert took < 2.5, took
        assert run.summary is not None
        assert (run.summary["stopped"], run.summary["succeeded"], run.summary["remaining"]) == ("cancelled", 0, 20)


def test_ctrl_c_stops_a_blocking_run_and_a_resume_finishes_it(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with MockServer(CASES["slow_server"]) as server:
        client = client_for(server)
        timer = threading.Timer(0.15, _thread.interrupt_main)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            batch.run_sync(client, INPUT, out, concurrency=1, grace_s=5)
        timer.join()
        status = batch.status(out)
        assert status["remaining"] > 0 and not status["complete"]
        summary = batch.run_sync(client, INPUT, out, resume=True)
        assert summary["skipped"] == 20 - status["remaining"]
        check_summary({**summary, "skipped": 0})
        check_lines(read_lines(out))
        # With a grace period the requests in flight at the stop finished: none was sent twice.
        assert server.stats()["requests"] == 20


def test_bad_input_names_its_line_and_nothing_is_sent(tmp_path: Path) -> None:
    async def first_line(run: batch.BatchRun) -> None:
        async for _ in run:
            pass

    with MockServer(CASES["server"]) as server:
        client = client_for(server)
        for bad in CASES["bad"]:
            out = tmp_path / "bad.jsonl"
            with pytest.raises(tc.TrinityError) as e:
                asyncio.run(first_line(batch.run(client, FIXTURES / bad["input"], out)))
            assert e.value.code == bad["code"]
            assert e.value.details is not None and e.value.details["line"] == bad["line"]
            assert bad["message_contains"] in str(e.value)
            with pytest.raises(tc.TrinityError) as e:
                batch.run_sync(client, FIXTURES / bad["input"], out)
            assert e.value.code == bad["code"]
            assert not (tmp_path / "bad.jsonl.journal").exists()
        assert server.stats()["requests"] == 0
        with pytest.raises(tc.InvalidInputError, match="grace_s"):
            batch.run(client, INPUT, tmp_path / "x.jsonl", grace_s=-1)
        with pytest.raises(tc.InvalidInputError, match="concurrency"):
            batch.run_sync(client, INPUT, tmp_path / "x.jsonl", concurrency=0)
        with pytest.raises(tc.NotFoundError):
            batch.status(tmp_path / "never.jsonl")


def test_a_second_run_into_the_same_output_is_refused_while_the_first_goes(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with MockServer(CASES["slow_server"]) as server:
        client = client_for(server)
        first: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: first.update(batch.run_sync(client, INPUT, out, concurrency=2)))
        worker.start()
        while not (tmp_path / "out.jsonl.part").exists():
            time.sleep(0.005)
        # Two runs appending to one journal would send requests twice: the second is refused.
        with pytest.raises(tc.InvalidInputError, match="another run") as e:
            batch.run_sync(client, INPUT, out, resume=True)
        assert e.value.details is not None
        assert e.value.details["reason"] == "locked" and e.value.details["pid"] == os.getpid()
        worker.join()
        assert first["complete"] and not (tmp_path / "out.jsonl.lock").exists()
        assert batch.run_sync(client, INPUT, out, resume=True)["skipped"] == 20
        assert server.stats()["requests"] == 20
