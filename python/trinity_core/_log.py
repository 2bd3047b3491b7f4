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


_NAMES = [
    (TRACE, "trace"),
    (logging.DEBUG, "debug"),
    (logging.INFO, "info"),
    (logging.WARNING, "warn"),
    (logging.ERROR, "error"),
]


def _outputs(logger: logging.Logger) -> bool:
    """A record passed by ``logger`` reaches a handler that is not a ``NullHandler``."""
    current: logging.Logger | None = logger
    while current is not None:
        if any(not isinstance(h, logging.NullHandler) for h in current.handlers):
            return True
        current = current.parent if current.propagate else None
    return False


def wanted() -> str | None:
    """The most verbose level any ``trinity_core`` logger would hand to an outputting handler,
    or None: the engine then builds no log record at all. Asked every second."""
    manager = logging.Logger.manager
    loggers = [logging.getLogger("trinity_core")]
    loggers += [
        lg
        for name, lg in list(manager.loggerDict.items())
        if name.startswith("trinity_core.") and isinstance(lg, logging.Logger)
    ]
    levels = [lg.getEffectiveLevel() for lg in loggers if not lg.disabled and _outputs(lg)]
    if not levels:
        return None
    lowest = max(min(levels), manager.disable + 1)
    for threshold, name in _NAMES:
        if lowest <= threshold:
            return name
    return None


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
