"""Operator plumbing in the consumer: a heartbeat every minute, the optional metrics endpoint, heap trimming."""

from __future__ import annotations

import threading

from huey import crontab

from tasks.app import huey, runtime
from worker import heartbeat, memory, metrics
from worker.queue import PRIORITY_OPS

_started = threading.Event()
_start_lock = threading.Lock()


@huey.periodic_task(crontab(minute="*"), priority=PRIORITY_OPS)
def consumer_heartbeat() -> None:
    heartbeat.beat()


@huey.on_startup()
def start_operator_endpoints() -> None:
    # huey runs start-up hooks in every worker thread: the first does the work, the others return at once.
    with _start_lock:
        if _started.is_set():
            return
        _started.set()
    heartbeat.beat()
    metrics.serve(runtime.settings)
    memory.start_trimmer()
    memory.cap_sqlite_memory()
