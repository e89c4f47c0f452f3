"""Logging for every mediflux process: human lines by default, JSON lines on request.

Log records carry ids and counts, never personal data (names, NIR, profile
fields, document text): that is a rule for every call site. NIRs are also masked
as a last line of defence in every record of the process (message, arguments,
traceback): :func:`configure_logging` installs a record factory that does it, for
huey's loggers as much as ours, and our handler carries the same filter.
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
from worker.privacy import mask_text

_HANDLER_NAME = "mediflux"
SHORT_ID_LENGTH = 12
_EXTRA_FIELDS = ("doc", "job")


def short_id(sha256: str | None) -> str:
    """The short id of a document in logs: a prefix of its content's sha256 (never its name)."""
    return (sha256 or "")[:SHORT_ID_LENGTH] or "-"


def doc_extra(sha256: str | None) -> dict[str, str]:
    """``extra=`` for a log call about a document (JSON lines get a ``doc`` field)."""
    return {"doc": short_id(sha256)}


_TRACEBACKS = logging.Formatter()


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask every NIR in ``record``'s message (arguments merged in), traceback and stack text; idempotent."""
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a bad format string: logging reports it when the record is emitted
        return record
    masked = mask_text(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        record.exc_text = _TRACEBACKS.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_text(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)
    return record


class NirMaskingFilter(logging.Filter):
    """A handler filter applying :func:`mask_record` (records made before the factory was installed)."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def install_record_masking() -> None:
    """Make every log record of this process NIR-masked when it is created (idempotent)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "masks_nirs", False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        return mask_record(previous(*args, **kwargs))

    factory.masks_nirs = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


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
    handler.addFilter(NirMaskingFilter())
    if settings.log_format == "json":
        formatter: logging.Formatter = JsonFormatter()
    else:
        formatter = logging.Formatter("%(asctime)sZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    return handler


def configure_logging(settings: Settings) -> None:
    """Attach one stderr handler to the ``mediflux`` logger (idempotent), in UTC; mask NIRs in every record."""
    install_record_masking()
    logger = logging.getLogger("mediflux")
    logger.setLevel(settings.log_level.upper())
    if any(h.get_name() == _HANDLER_NAME for h in logger.handlers):
        return
    logger.addHandler(build_handler(settings))
    logger.propagate = False
