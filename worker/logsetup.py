"""Logging for every mediflux process: human lines by default, JSON lines on request.

Log records carry ids and counts, never personal data (names, NIR, profile
fields, document text): that is a rule for every call site, not a filter here.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from worker.config import Settings

_HANDLER_NAME = "mediflux"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            payload["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(payload, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    """Attach one stderr handler to the ``mediflux`` logger (idempotent), in UTC."""
    logger = logging.getLogger("mediflux")
    logger.setLevel(settings.log_level.upper())
    if any(h.get_name() == _HANDLER_NAME for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    if settings.log_format == "json":
        formatter: logging.Formatter = JsonFormatter()
    else:
        formatter = logging.Formatter("%(asctime)sZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    logger.propagate = False
