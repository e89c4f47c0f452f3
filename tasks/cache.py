"""Cache refresh task: a thin huey wrapper over worker.cache.refresh (the cache table stays the ledger).

Stale reads enqueue it through the runtime's triggers (stale-while-revalidate); a lost task is harmless:
the ``cache_refresh`` periodic job refreshes stale entries that are being read.
"""

from __future__ import annotations

from typing import Any

from huey import Huey
from huey.api import TaskWrapper

from tasks.guard import contained
from worker.cache import refresh


def register(huey: Huey) -> TaskWrapper:
    @huey.task()
    @contained
    def refresh_entry(source: str, endpoint: str, params: dict[str, Any]) -> str:
        """Refresh one cache entry if still stale (JSON arguments only)."""
        return refresh.refresh_entry(source, endpoint, params)

    return refresh_entry
