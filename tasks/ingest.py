"""Ingestion task: a thin huey wrapper over worker.ingest (the inbox and the database stay the ledger).

Importing this module also registers the analysis trigger: every commit that stores documents (task,
watcher, CLI, periodic rescan in this process) enqueues ``tasks.analysis.analyze_documents(ids)``.
"""

from __future__ import annotations

from tasks.analysis import analyze_documents
from tasks.app import huey, runtime
from worker.ingest import events, ingest_paths
from worker.ingest.paths import decode_paths, encode_paths
from worker.queue import PRIORITY_INGEST

MAX_RETRY_DELAY = 300


def trigger_analysis(ids: list[int]) -> None:
    analyze_documents(ids)


events.add_listener(trigger_analysis)


def retry_delay(attempt: int) -> int:
    """Backoff for files left in place by a transient failure: 1, 2, 4 … seconds, capped at 5 minutes."""
    return min(2 ** min(attempt, 16), MAX_RETRY_DELAY)


@huey.task(priority=PRIORITY_INGEST)
def ingest_files(paths: list[str], attempt: int = 0) -> dict:
    """Ingest these inbox files in batches; files left by a transient failure are retried with backoff
    (and the periodic rescan finds them anyway if this consumer dies)."""
    report = ingest_paths(decode_paths(paths), runtime.settings)
    if report.retry:
        ingest_files.schedule(args=(encode_paths(report.retry), attempt + 1), delay=retry_delay(attempt))
    return report.summary()


def enqueue_paths(paths: list[str], batch_size: int | None = None) -> int:
    """Enqueue ``paths`` as ``ingest_files`` tasks of ``batch_size`` files; returns the number of tasks."""
    size = batch_size or runtime.settings.ingest_batch
    tasks = 0
    for start in range(0, len(paths), size):
        ingest_files(encode_paths(paths[start : start + size]))
        tasks += 1
    return tasks
