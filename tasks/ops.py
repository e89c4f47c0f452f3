"""Operator plumbing in the consumer: a heartbeat every minute, huey's task stats, the optional metrics
endpoint, heap trimming."""

from __future__ import annotations

import threading

from huey import Huey, crontab
from huey.contrib.stats import enable_stats

from tasks.guard import contained
from worker import heartbeat, memory, metrics
from worker.queue import PRIORITY_OPS
from worker.runtime import Runtime


def register(huey: Huey, runtime: Runtime) -> None:
    started = threading.Event()
    start_lock = threading.Lock()

    @huey.periodic_task(crontab(minute="*"), priority=PRIORITY_OPS)
    @contained
    def consumer_heartbeat() -> None:
        heartbeat.beat()

    @huey.on_startup()
    @contained
    def start_operator_endpoints() -> None:
        # huey runs start-up hooks in every worker thread: the first does the work, the others return at once.
        with start_lock:
            if started.is_set():
                return
            started.set()
            # huey's own task stats (tables huey_event/huey_inflight, created by migration 0004, in the data
            # database) for the dashboard. Arguments are never captured (they may name users); huey keeps the
            # same window as the ``huey_events`` retention policy, which prunes them too.
            enable_stats(
                huey,
                runtime.database,
                retention_hours=24 * runtime.settings.retention.huey_events,
                max_events=100_000,
                capture_args=False,
                create_tables=False,
            )
        heartbeat.beat()
        metrics.serve(runtime.settings, huey, runtime.jobs)
        memory.start_trimmer()
        memory.cap_sqlite_memory()
