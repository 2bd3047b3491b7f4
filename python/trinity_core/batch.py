"""Batch runs that survive a crash: JSON Lines of chat requests through a :class:`Client`.

    from trinity_core import batch

    run = batch.run(client, "requests.jsonl", "results.jsonl")
    async for line in run:          # each result as it is journaled, in finishing order
        print(line["custom_id"], line["error"] or "ok")
    print(run.summary)              # total, succeeded, failed, remaining, cost_usd, ...

    summary = batch.run_sync(client, "requests.jsonl", "results.jsonl", resume=True)
    batch.status("results.jsonl")   # what the journal says: done, failed, remaining, cost

The input holds one request per line, each with a ``custom_id`` (OpenAI's Batch API lines
``{custom_id, method, url, body}`` are accepted unchanged); a duplicate or missing ``custom_id``
is an :class:`InvalidInputError` naming the line, before anything is sent. Each result line is
``{id, custom_id, response, error, trinity}`` in OpenAI's batch output shape. When every request
is done, ``output`` holds them in input order and the failed ones are also in
``<output>.errors.jsonl``; until then ``<output>.part`` and ``<output>.journal`` hold the run,
and ``resume=True`` finishes exactly the requests not done (``retry_failed=True``: the failed
ones too), refusing when the input or a result-changing setting changed.

Cancelling the task that iterates stops the run as the CLI's first signal does: nothing new is
admitted and in-flight requests get ``grace_s`` (none: they are cancelled at once); the
``CancelledError`` reaches the task once the files are valid. A second cancellation while it
winds down cancels what is still in flight. Leaving the loop early and closing the iterator
(``aclose``), or dropping it, stops the run too.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, TypedDict, cast

from trinity_core._native import BatchRun as _NativeBatchRun
from trinity_core._native import Client, batch_run, batch_run_sync, batch_status

__all__ = ["BatchRun", "BatchSummary", "FailedRequest", "run", "run_sync", "status"]


class FailedRequest(TypedDict):
    custom_id: str
    request_id: str
    error: str


class BatchSummary(TypedDict):
    """What ``run_sync``, ``status`` and ``BatchRun.summary`` report."""

    total: int
    succeeded: int
    failed: int
    remaining: int
    skipped: int
    cost_usd: float
    complete: bool
    stopped: str | None
    failed_requests: list[FailedRequest]
    journal_bytes_dropped: int
    output: str


class BatchProgress(TypedDict):
    """``BatchRun.progress``: the run's counters at the moment it is read."""

    total: int
    skipped: int
    succeeded: int
    failed: int
    in_flight: int
    remaining: int
    cost_usd: float


class BatchRun:
    """A batch run's result lines as they are journaled: ``async for line in run``.

    The run starts with the first iteration. ``summary`` is None until it ends, then the run's
    :class:`BatchSummary` (also after a cancellation).
    """

    __slots__ = ("_native", "summary")

    def __init__(self, native: _NativeBatchRun) -> None:
        self._native = native
        self.summary: BatchSummary | None = None

    def __aiter__(self) -> BatchRun:
        return self

    async def __anext__(self) -> dict[str, Any]:
        try:
            line = await self._native.next()
        except asyncio.CancelledError:
            await self._stop()
            raise
        if line is None:
            self.summary = cast(BatchSummary, self._native.summary)
            raise StopAsyncIteration
        return line

    @property
    def progress(self) -> BatchProgress:
        """Done, failed, in flight, remaining and cost so far, read without waiting (for a
        progress display: the rate and ETA are the caller's, from two readings)."""
        return cast(BatchProgress, self._native.progress)

    async def aclose(self) -> None:
        """Stops the run (as a cancellation does) and waits until its files are valid."""
        if self.summary is None:
            await self._stop()

    async def _stop(self) -> None:
        self._native.cancel()
        end = self._native.finished()
        while True:
            try:
                self.summary = cast(BatchSummary, await asyncio.shield(end))
                return
            except asyncio.CancelledError:
                self._native.abort()  # cancelled again: what is in flight goes now
            except Exception:
                return  # the run failed or never started: the cancellation is the news


def run(
    client: Client,
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    resume: bool = False,
    retry_failed: bool = False,
    concurrency: int = 32,
    grace_s: float | None = None,
) -> BatchRun:
    """Runs (or with ``resume=True`` continues) the batch in ``input`` into ``output``.

    Returns an async iterator of result dicts; bad options raise here, a bad input from the
    first iteration.
    """
    return BatchRun(
        batch_run(
            client,
            input,
            output,
            resume=resume,
            retry_failed=retry_failed,
            concurrency=concurrency,
            grace_s=grace_s,
        )
    )


def run_sync(
    client: Client,
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    resume: bool = False,
    retry_failed: bool = False,
    concurrency: int = 32,
    grace_s: float | None = None,
) -> BatchSummary:
    """The blocking twin of :func:`run`: the summary. The GIL is released while it runs. Ctrl-C
    (a signal handler's exception) stops it as the CLI's first signal does (a second cancels
    what is in flight) and is raised once the files are valid."""
    return cast(
        BatchSummary,
        batch_run_sync(
            client,
            input,
            output,
            resume=resume,
            retry_failed=retry_failed,
            concurrency=concurrency,
            grace_s=grace_s,
        ),
    )


def status(output: str | os.PathLike[str]) -> BatchSummary:
    """What the journal next to ``output`` says: done, failed, remaining, cost
    (:class:`NotFoundError` when there is none)."""
    return cast(BatchSummary, batch_status(output))
