"""The ``inbox_rescan`` periodic job: ingest whatever is still in the inbox (the crash-safety net).

huey deletes a task when it dequeues it, so a killed consumer loses the files of the batch it was
running, and a killed watcher loses what it had not dispatched yet. Both are still in the inbox: this job
walks it and ingests files that have been quiet for a while (the watcher has priority on fresh ones).
"""

from __future__ import annotations

import time
from typing import Any

from worker.config import Settings
from worker.ingest.scan import IgnoreRules, walk
from worker.ingest.store import IngestReport, ingest_batch
from worker.periodic import JobContext

MIN_AGE_SECONDS = 30.0


def settled_files(settings: Settings, rules: IgnoreRules, min_age: float) -> list[str]:
    """Inbox files not modified for ``min_age`` seconds (oldest first)."""
    now = time.time()
    found = []
    for entry in walk(settings.inbox, rules):
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if now - mtime >= min_age:
            found.append((mtime, entry.path))
    return [p for _, p in sorted(found)]


def run(ctx: JobContext) -> dict[str, Any]:
    """Ingest settled inbox files in batches until done or out of time (the next run resumes)."""
    settings = ctx.resources.get("settings")
    if settings is None:
        from worker.runtime import bootstrap  # here, not at import: worker.runtime imports the job list

        settings = bootstrap().settings
    report = IngestReport()
    paths = settled_files(settings, IgnoreRules(settings.watch_ignore), MIN_AGE_SECONDS)
    for start in range(0, len(paths), settings.ingest_batch):
        if ctx.time_left() < 10:
            break
        report.merge(ingest_batch(paths[start:start + settings.ingest_batch], settings))
    return {"found": len(paths)} | {k: v for k, v in report.summary().items() if k != "reasons"}
