"""Ingestion task: a thin huey wrapper over worker.ingest (the inbox and the database stay the ledger).

What it stores is handed to the runtime's triggers, so analysis follows every commit. Its arguments are opaque
keys of the inbox files, never their names (:mod:`worker.ingest.tokens`).
"""

from __future__ import annotations

from typing import Any

from huey import Huey
from huey.api import TaskWrapper

from tasks.guard import contained
from worker.ingest import ingest_paths, tokens
from worker.queue import PRIORITY_INGEST
from worker.runtime import Runtime

MAX_RETRY_DELAY = 300


def retry_delay(attempt: int) -> int:
    """Backoff for files left in place by a transient failure: 1, 2, 4 … seconds, capped at 5 minutes."""
    return int(min(2 ** min(attempt, 16), MAX_RETRY_DELAY))


def register(huey: Huey, runtime: Runtime) -> TaskWrapper:
    @huey.task(priority=PRIORITY_INGEST)
    @contained
    def ingest_files(keys: list[str], attempt: int = 0) -> dict[str, Any]:
        """Ingest the inbox files these opaque keys name (:mod:`worker.ingest.tokens`: never file names); files
        left by a transient failure are retried with backoff (and the periodic rescan finds them anyway if
        this consumer dies)."""
        settings = runtime.settings
        report = ingest_paths(tokens.paths_of(settings, keys), settings, runtime.triggers)
        if report.retry:
            retry = tokens.keys_of(settings, report.retry)
            ingest_files.schedule(args=(retry, attempt + 1), delay=retry_delay(attempt))
        return report.summary()

    return ingest_files
