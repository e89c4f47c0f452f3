"""OCR task: a thin huey wrapper over worker.ocr.stage (the inbox file stays the ledger until the commit).

Queued at ``PRIORITY_OCR``, below ingestion and analysis. A thread that finds this process's OCR places all
taken defers its keys to the next thread that ends a document (and puts its task back, in case this process dies
first) instead of waiting, so the consumer's other threads stay free and no core waits for a put-back.
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

BUSY_DELAY = 10  # the put-back task: durable, for when this process dies before a place takes the deferred keys


def register(huey: Huey, runtime: Runtime) -> TaskWrapper:
    @huey.task(priority=PRIORITY_OCR)
    @contained
    def ocr_files(keys: list[str], attempt: int = 0) -> dict[str, Any]:
        """OCR the inbox images/PDFs these opaque keys name (:mod:`worker.ingest.tokens`: never file names);
        transient failures are retried with backoff (and rediscovered by ``inbox_rescan`` if this consumer dies).
        The thread that holds a place goes on with the keys other tasks deferred (:func:`stage.next_or_end`)."""
        settings = runtime.settings
        if not tokens.paths_of(settings, keys):  # a put-back copy of work a place has done since
            return {"gone": True}
        if not stage.try_begin(settings, keys, attempt):
            ocr_files.schedule(args=(keys, attempt), delay=BUSY_DELAY)
            return {"busy": True}
        summaries: list[dict[str, Any]] = []
        held = True
        try:
            while True:
                report = stage.ocr_paths(tokens.paths_of(settings, keys), settings, runtime.triggers)
                if report.retry:
                    retry = tokens.keys_of(settings, report.retry)
                    ocr_files.schedule(args=(retry, attempt + 1), delay=retry_delay(attempt))
                summaries.append(report.summary())
                following = stage.next_or_end(settings)
                if following is None:
                    held = False
                    break
                keys, attempt = following
        finally:
            if held:
                stage.end(settings)
        return summaries[0] if len(summaries) == 1 else {"documents": summaries}

    return ocr_files
