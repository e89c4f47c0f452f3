"""Housekeeping periodic job: record queue depth, prune huey's leftovers and old run history, and remove the
OCR job folders (raw uploads) and the app's orphan temporary uploads a killed process left, even when no upload
comes to trigger the stage's own cleanup;
once per deployment, mask the quarantine entries an older version left with a NIR in their name or sidecar.

Results are off and locks are flushed at consumer start, yet a killed consumer
or a task that stored a result leaves rows in huey's key/value store forever.
A key is pruned only when it was already there at the previous run (so it is
at least one interval old) — a result or lock of a task running now survives.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from huey import Huey

from models import JobRun
from worker import quarantine_remask
from worker.ocr import workspace
from worker.periodic import JobContext
from worker.queue import queue_counts, stored_keys
from worker.retention.chunks import delete_chunked
from worker.submissions import recover

JOB_HISTORY_DAYS = 30
_DELETE_CHUNK = 500
_RESULT_KEY = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def leftover_keys(huey: Huey, keys: list[str]) -> list[str]:
    """Task results (uuid keys) and task locks; revocations are left for huey to clear."""
    lock_prefix = f"{huey.name}.lock."
    return [k for k in keys if _RESULT_KEY.match(k) or k.startswith(lock_prefix)]


def prune_job_history(before: _dt.datetime, deadline: float | None = None) -> int:
    """Delete job-run rows older than ``before`` in short transactions (until ``deadline``); return the count."""
    return delete_chunked(JobRun, JobRun.id, JobRun.started_at < before, chunk=_DELETE_CHUNK, deadline=deadline).deleted


def prune_leftovers(huey: Huey, state: dict[str, Any]) -> tuple[int, int]:
    """Delete leftover results/locks already seen at the previous call (``state`` remembers them).

    Returns (candidates now, pruned). Used by housekeeping and by the expiry sweep.
    """
    candidates = set(leftover_keys(huey, stored_keys(huey)))
    seen_before = set(state.get("leftover_keys", []))
    pruned = 0
    for key in sorted(candidates & seen_before):
        if huey.storage.delete_data(key):
            pruned += 1
    state["leftover_keys"] = sorted(candidates - seen_before)[:5000]
    return len(candidates), pruned


def run(ctx: JobContext) -> dict[str, Any]:
    """The housekeeping job (see module doc). Returns the summary stored with the run."""
    history = prune_job_history(ctx.started_at - _dt.timedelta(days=JOB_HISTORY_DAYS))
    ocr = {
        "ocr_leftovers_removed": workspace.clean_stale(ctx.settings),
        "orphan_temps_removed": recover.remove_orphan_temps(ctx.settings, ctx.started_at),
    }
    if not ctx.state.get("quarantine_remasked"):  # entries an older version left: once per deployment
        ocr["quarantine_remasked"] = quarantine_remask.remask(ctx.settings.home)
        ctx.state["quarantine_remasked"] = True
    if ctx.huey is None:  # a process without a queue: nothing of huey's to count or prune
        return {"pruned_job_runs": history, **ocr}
    counts = queue_counts(ctx.huey)
    candidates, pruned = prune_leftovers(ctx.huey, ctx.state)
    return {**counts, "leftover_keys": candidates, "pruned_keys": pruned, "pruned_job_runs": history, **ocr}
