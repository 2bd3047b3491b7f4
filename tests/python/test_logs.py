"""Engine logs in Python's logging: records with the request log's id and GenAI fields, the
client's level and redaction, handlers that raise or block never touching a call, and no
deadlock with threads logging while others hold the GIL. Against the real mock server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import trinity_core as tc
from trinity_core.testing import MockServer

KEY = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6l"


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer(seed=2, faults={"script": ["ok", "503", "ok"]}) as s:
        yield s


@pytest.fixture
def keep() -> Iterator[Keep]:
    h = Keep()
    logger = logging.getLogger("trinity_core")
    logger.addHandler(h)
    logger.setLevel(logging.DEBUG)
    yield h
    logger.removeHandler(h)
    logger.setLevel(logging.NOTSET)


def client(server: MockServer, **logging_cfg: Any) -> tc.Client:
    provider = {"kind": "openai", "base_url": server.url + "/v1", "api_key": KEY}
    return tc.Client({"providers": {"p": provider}, "retry": {"max_attempts": 2, "base_ms": 1}, "logging": logging_cfg})


def ask(text: str, model: str = "p/gpt-4o-mini") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}]}


def test_records_reach_logging_with_the_request_id_and_genai_fields(server: MockServer, keep: Keep) -> None:
    c = client(server)
    answered = c.chat_sync(ask("first"))
    retried = c.chat_sync(ask("second"))  # the script's 503, then ok
    assert tc.flush_logs()
    by_id = {r.request_id: r for r in keep.records if r.getMessage().startswith("call answered")}
    first = by_id[answered.debug["request_id"]]
    assert first.name == "trinity_core.llm.books" and first.levelno == logging.INFO
    assert first.gen_ai_request_model == "p/gpt-4o-mini"  # type: ignore[attr-defined]
    assert first.gen_ai_usage_input_tokens == answered.usage.prompt_tokens  # type: ignore[attr-defined]
    assert first.trinity_fields["gen_ai.operation.name"] == "chat"  # type: ignore[attr-defined]
    retries = [r for r in keep.records if r.getMessage().startswith("retrying")]
    assert [r.request_id for r in retries] == [retried.debug["request_id"]]
    assert retries[0].levelno == logging.WARNING and retries[0].name == "trinity_core.llm.books"
    ids = {rec["request_id"] for rec in c.request_log.get_history(10)}
    assert {answered.debug["request_id"], retried.debug["request_id"]} <= ids


def test_level_and_redaction_follow_the_config(server: MockServer, keep: Keep) -> None:
    quiet = client(server, level="warn")
    quiet.chat_sync(ask("fine"))
    assert tc.flush_logs()
    assert keep.records == []
    c = client(server, format="json")
    c.chat_sync(ask("keyed", model=f"p/{KEY}"))
    assert tc.flush_logs()
    (r,) = [r for r in keep.records if r.getMessage().startswith("call answered")]
    assert KEY not in r.trinity_line and KEY not in str(r.trinity_fields)  # type: ignore[attr-defined]
    assert "REDACTED" in r.gen_ai_request_model  # type: ignore[attr-defined]


def test_a_raising_or_blocking_handler_never_fails_or_stalls_a_call(server: MockServer) -> None:
    class Raises(logging.Handler):
        def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
            raise RuntimeError("a broken handler")

    release = threading.Event()

    class Blocks(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            release.wait()

    logger = logging.getLogger("trinity_core")
    handlers = [Raises(), Blocks()]
    for h in handlers:
        logger.addHandler(h)
    logger.setLevel(logging.INFO)
    raise_exceptions, logging.raiseExceptions = logging.raiseExceptions, False
    try:
        c = client(server)
        # Every call returns while the blocking handler still waits.
        for i in range(100):
            assert c.chat_sync(ask(f"q{i}")).content
        assert not release.is_set()
    finally:
        release.set()
        for h in handlers:
            logger.removeHandler(h)
        logger.setLevel(logging.NOTSET)
        logging.raiseExceptions = raise_exceptions
    assert tc.flush_logs(timeout=30)


def test_no_deadlock_with_eight_threads_logging_while_the_gil_is_held(server: MockServer, keep: Keep) -> None:
    c = client(server)
    app = logging.getLogger("app")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                c.chat_sync(ask(f"t{n}-{i}"))
                app.warning("thread %d call %d", n, i)  # takes logging's lock under the GIL
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for _ in range(2000):  # the main thread holds the GIL in pure-Python work meanwhile
        sum(range(1000))
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    assert errors == []
    assert tc.flush_logs(timeout=30)
    answered = [r for r in keep.records if r.getMessage().startswith("call answered")]
    assert len(answered) >= 200


def test_logging_configured_after_the_client_is_picked_up(server: MockServer) -> None:
    from trinity_core import _log

    # Nothing below warning reaches a handler yet: the engine builds no info record.
    assert _log.wanted() in (None, "warn", "error")
    c = client(server)
    h = Keep()
    logger = logging.getLogger("trinity_core")
    logger.addHandler(h)
    logger.setLevel(logging.INFO)
    try:
        assert _log.wanted() == "info"
        # The engine asks again every second; calls made after that are logged.
        for _ in range(100):
            c.chat_sync(ask("later"))
            assert tc.flush_logs()
            if any(r.getMessage().startswith("call answered") for r in h.records):
                break
            threading.Event().wait(0.1)
        assert any(r.getMessage().startswith("call answered") for r in h.records)
    finally:
        logger.removeHandler(h)
        logger.setLevel(logging.NOTSET)
