"""The huey instance the consumer runs (``huey_consumer tasks.huey``) and the app enqueues on.

Importing it bootstraps the process: settings (exit 2 on a bad one), database,
migrations. Task modules import ``huey`` from here.
"""

from __future__ import annotations

import threading

from huey.contrib.stats import enable_stats

from worker.queue import build_huey
from worker.runtime import bootstrap

runtime = bootstrap()
huey = build_huey(runtime.settings)
_stats_lock = threading.Lock()


@huey.on_startup()
def enable_task_stats() -> None:
    """In the consumer only: huey's own task stats (tables huey_event/huey_inflight, created by migration
    0004, in the data database) for the operator dashboard. Arguments are never captured (they may name
    users); huey keeps the same window as the ``huey_events`` retention policy, which prunes them too."""
    with _stats_lock:  # on_startup runs in every worker thread
        enable_stats(
            huey,
            runtime.database,
            retention_hours=24 * runtime.settings.retention.huey_events,
            max_events=100_000,
            capture_args=False,
            create_tables=False,
        )
