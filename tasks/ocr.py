"""OCR task: a thin huey wrapper over worker.ocr.stage (the inbox file stays the ledger until the commit).

Queued at ``PRIORITY_OCR``, below ingestion and analysis. A thread that finds this process's OCR places all
taken puts the task back (a second later) instead of waiting, so the consumer's other threads stay free.
"""

from __future__ import annotations

from typing import Any

from huey import Huey
from huey.api import TaskWrapper

from tasks.ingest import retry_delay
from worker.ingest.paths import decode_paths, encode_paths
from worker.ocr import stage
from worker.queue import PRIORITY_OCR
from worker.runtime import Runtime

BUSY_DELAY = 1


def register(huey: Huey, runtime: Runtime) -> TaskWrapper:
    @huey.task(priority=PRIORITY_OCR)
    def ocr_files(paths: list[str], attempt: int = 0) -> dict[str, Any]:
        """OCR these inbox images/PDFs; transient failures are retried with backoff (and rediscovered by
        ``inbox_rescan`` if this consumer dies)."""
        settings = runtime.settings
        if not stage.try_begin(settings):
            ocr_files.schedule(args=(paths, attempt), delay=BUSY_DELAY)
            return {"busy": True}
        try:
            report = stage.ocr_paths(decode_paths(paths), settings, runtime.triggers)
        finally:
            stage.end(settings)
        if report.retry:
            ocr_files.schedule(args=(encode_paths(report.retry), attempt + 1), delay=retry_delay(attempt))
        return report.summary()

    return ocr_files
