"""Cache refresh task: a thin huey wrapper over worker.cache.refresh (the cache table stays the ledger).

Importing it also makes stale reads in this process enqueue this task
(stale-while-revalidate); a lost task is harmless: the ``cache_refresh`` periodic
job refreshes stale entries that are being read.
"""

from __future__ import annotations

from typing import Any

from tasks.app import huey
from worker.cache import refresh, set_refresh_enqueuer


@huey.task()
def refresh_entry(source: str, endpoint: str, params: dict[str, Any]) -> str:
    """Refresh one cache entry if still stale (JSON arguments only)."""
    return refresh.refresh_entry(source, endpoint, params)


set_refresh_enqueuer(refresh_entry)
