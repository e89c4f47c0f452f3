"""The ``analysis_backlog`` periodic job: analyse what was missed, retry pending BDPM matches, and re-match
documents matched against an older mirror version (a sync changed the data)."""

from __future__ import annotations

from typing import Any

from worker.analysis import runner
from worker.periodic import JobContext

BATCH = 25


def run(ctx: JobContext) -> dict[str, Any]:
    """Work in batches until the backlog is empty or the time budget is spent (the next run resumes)."""
    analysed = retried = 0
    while ctx.time_left() > 5:
        n = runner.analyze_pending(BATCH)
        analysed += n
        if n < BATCH:
            break
    while ctx.time_left() > 5:
        n = runner.retry_medication_matching(BATCH)
        retried += n
        if n < BATCH:
            break
    rematched = 0
    while ctx.time_left() > 5:
        n = runner.rematch_stale(BATCH)
        rematched += n
        if n < BATCH:
            break
    return {"analysed": analysed, "bdpm_retried": retried, "bdpm_rematched": rematched}
