"""Analysis task: a thin huey wrapper over worker.analysis.store (the database stays the ledger)."""

from __future__ import annotations

from tasks.app import huey
from worker.analysis import store
from worker.queue import PRIORITY_ANALYSIS


@huey.task(priority=PRIORITY_ANALYSIS)
def analyze_documents(ids: list[int]) -> int:
    """Analyse these documents (ids only: JSON-serialisable); missing ones are skipped."""
    return store.analyze_batch(ids)
