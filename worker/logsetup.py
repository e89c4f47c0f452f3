"""Logging for every mediflux process: human lines by default, JSON lines on request.

Log records carry ids and counts, never personal data (names, NIR, profile
fields, document text): that is a rule for every call site, not a filter here.
A line about a document names it by id and :func:`short_id` (a sha256 prefix of
its content) and passes ``extra=doc_extra(sha256)``, which JSON lines carry as a
``doc`` field, so one document's lines can be followed across processes.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TextIO

from worker.config import Settings

_HANDLER_NAME = "mediflux"
SHORT_ID_LENGTH = 12
_EXTRA_FIELDS = ("doc", "job")


def short_id(sha256: str | None) -> str:
    """The short id of a document in logs: a prefix of its content's sha256 (never its name)."""
    return (sha256 or "")[:SHORT_ID_LENGTH] or "-"


def doc_extra(sha256: str | None) -> dict[str, str]:
    """``extra=`` for a log call about a document (JSON lines get a ``doc`` field)."""
    return {"doc": short_id(sha256)}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in _EXTRA_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                payload[key] = value
        if record.exc_info:
            payload["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(payload, ensure_ascii=False)


def build_handler(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """The handler every process uses: human lines or JSON lines (``MEDIFLUX_LOG_FORMAT``), times in UTC."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    if settings.log_format == "json":
        formatter: logging.Formatter = JsonFormatter()
    else:
        formatter = logging.Formatter("%(asctime)sZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    return handler


def configure_logging(settings: Settings) -> None:
    """Attach one stderr handler to the ``mediflux`` logger (idempotent), in UTC."""
    logger = logging.getLogger("mediflux")
    logger.setLevel(settings.log_level.upper())
    if any(h.get_name() == _HANDLER_NAME for h in logger.handlers):
        return
    logger.addHandler(build_handler(settings))
    logger.propagate = False
