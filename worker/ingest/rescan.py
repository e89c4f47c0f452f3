"""The ``inbox_rescan`` periodic job: ingest whatever is still in the inbox (the crash-safety net).

huey deletes a task when it dequeues it, so a killed consumer loses the files of the batch it was
running, and a killed watcher loses what it had not dispatched yet. Both are still in the inbox: this job
walks it and ingests files that have been quiet for a while.

A file's age is counted from its last change *or move*: ``max(mtime, ctime)``, since a file renamed or
copied into the inbox keeps an old mtime but has only just landed. While a watcher holds the inbox's lease,
the inbox is its to dispatch: it sends its startup scan and rescans to the queue and sends again whatever
is still there three rescan intervals later, so the job leaves it files younger than that (plus
:data:`MIN_AGE_SECONDS`). Without this, a consumer starting beside a watcher on a large backlog ingested
the backlog from the job's thread while the watcher's tasks found the files gone, and the threads left
free ran analysis in the middle of the backlog.
"""

from __future__ import annotations

import time
from typing import Any

from worker import leases
from worker.config import Settings
from worker.ingest.batch import ingest_batch
from worker.ingest.report import IngestReport
from worker.ingest.scan import IgnoreRules, walk
from worker.periodic import JobContext

MIN_AGE_SECONDS = 30.0


def settled_files(settings: Settings, rules: IgnoreRules) -> list[tuple[float, str]]:
    """``(landed, path)`` of inbox files unchanged (neither written nor moved in) for ``MIN_AGE_SECONDS``,
    oldest first; ``landed`` is ``max(mtime, ctime)``."""
    now = time.time()
    found = []
    for entry in walk(settings.inbox, rules):
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        landed = max(st.st_mtime, st.st_ctime)
        if now - landed >= max(MIN_AGE_SECONDS, settings.watch_poll_quiet_seconds):
            found.append((landed, entry.path))
    return sorted(found)


def min_age(settings: Settings) -> float:
    """How old a file must be for the job to take it: older than the watcher's own re-dispatch while a
    watcher holds the inbox's lease, else ``MIN_AGE_SECONDS``."""
    if leases.holder_of(leases.watcher_lease(settings.inbox)) is None:
        return MIN_AGE_SECONDS
    return 3 * settings.watch_rescan_seconds + MIN_AGE_SECONDS


def run(ctx: JobContext) -> dict[str, Any]:
    """Ingest settled inbox files in batches until done or out of time (the next run resumes); the
    watcher's lease is looked at before each batch (one may start while the job runs)."""
    settings = ctx.settings
    report = IngestReport()
    pending = settled_files(settings, IgnoreRules(settings.watch_ignore))
    found, left_to_watcher = len(pending), 0
    while pending and ctx.time_left() >= 10:
        cutoff = time.time() - min_age(settings)
        batch = [path for landed, path in pending[: settings.ingest_batch] if landed <= cutoff]
        if not batch:  # oldest first: nothing after it is old enough either
            left_to_watcher = len(pending)
            break
        pending = pending[len(batch) :]
        report.merge(ingest_batch(batch, settings, ctx.triggers))
    return {"found": found, "left_to_watcher": left_to_watcher} | {
        k: v for k, v in report.summary().items() if k != "reasons"
    }
