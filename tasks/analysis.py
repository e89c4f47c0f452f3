"""Analysis task: a thin huey wrapper over worker.analysis.runner (the database stays the ledger).

It lets ingestion in this process go first (``worker.ingest.activity``): a backlog is committed, then analysed.
"""

from __future__ import annotations

from huey import Huey
from huey.api import TaskWrapper

from tasks.guard import contained
from worker.analysis import runner
from worker.ingest import activity
from worker.queue import PRIORITY_ANALYSIS


def register(huey: Huey) -> TaskWrapper:
    @huey.task(priority=PRIORITY_ANALYSIS)
    @contained
    def analyze_documents(ids: list[int]) -> int:
        """Analyse these documents (ids only: JSON-serialisable); missing ones are skipped."""
        activity.wait_until_idle()
        return runner.analyze_batch(ids)

    return analyze_documents
