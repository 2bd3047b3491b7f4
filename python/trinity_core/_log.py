"""Engine logs into :mod:`logging`: the native module hands batches of records here from its log
thread. Loggers are named after the engine's modules (``trinity_core.llm.books``,
``trinity_core.request``, ...); each record carries ``request_id`` (the request log's), the
OpenTelemetry GenAI fields with dots as underscores (``record.gen_ai_request_model``), all of
them as ``record.trinity_fields`` and the line as the client's ``logging.format`` renders it as
``record.trinity_line``."""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any

TRACE = 5
logging.addLevelName(TRACE, "TRACE")
_LEVELS = {
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE,
}


def enabled(name: str, level: str) -> bool:
    return logging.getLogger(name).isEnabledFor(_LEVELS[level])


def emit(batch: list[tuple[str, str, str, str | None, dict[str, Any], int, str]]) -> None:
    for name, level, message, request_id, fields, ts_ms, line in batch:
        logger = logging.getLogger(name)
        levelno = _LEVELS[level]
        if not logger.isEnabledFor(levelno):
            continue
        try:
            record = logger.makeRecord(name, levelno, "(trinity-core)", 0, message, (), None)
            record.created = ts_ms / 1000
            record.msecs = float(ts_ms % 1000)
            record.request_id = request_id
            record.trinity_fields = fields
            record.trinity_line = line
            for key, value in fields.items():
                attr = key.replace(".", "_")
                if attr not in record.__dict__:
                    setattr(record, attr, value)
            logger.handle(record)
        except Exception:  # a handler or filter that raises loses its record, not the others
            if logging.raiseExceptions:
                traceback.print_exc(file=sys.stderr)
