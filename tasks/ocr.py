"""OCR task: a thin huey wrapper over worker.ocr.stage (the inbox file stays the ledger until the commit).

Queued at ``PRIORITY_OCR``, below ingestion and analysis. A thread that finds this process's OCR places all
taken puts the task back (a second later) instead of waiting, so the consumer's other threads stay free.
"""

from __future__ import annotations

from typing import Any

from huey import Huey
from huey.api import TaskWrapper

from tasks.guard import contained
from tasks.ingest import retry_delay
from worker.ingest import tokens
from worker.ocr import stage
from worker.queue import PRIORITY_OCR
from worker.runtime import Runtime

BUSY_DELAY = 1


def register(huey: Huey, runtime: Runtime) -> TaskWrapper:
    @huey.task(priority=PRIORITY_OCR)
    @contained
    def ocr_files(keys: list[str], attempt: int = 0) -> dict[str, Any]:
        """OCR the inbox images/PDFs these opaque keys name (:mod:`worker.ingest.tokens`: never file names);
        transient failures are retried with backoff (and rediscovered by ``inbox_rescan`` if this consumer dies)."""
        settings = runtime.settings
        if not stage.try_begin(settings):
            ocr_files.schedule(args=(keys, attempt), delay=BUSY_DELAY)
            return {"busy": True}
        try:
            report = stage.ocr_paths(tokens.paths_of(settings, keys), settings, runtime.triggers)
        finally:
            stage.end(settings)
        if report.retry:
            ocr_files.schedule(args=(tokens.keys_of(settings, report.retry), attempt + 1), delay=retry_delay(attempt))
        return report.summary()

    return ocr_files
