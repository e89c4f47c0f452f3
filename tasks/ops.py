"""Operator plumbing in the consumer: a heartbeat every minute and the optional metrics endpoint."""

from __future__ import annotations

from huey import crontab

from tasks.app import huey, runtime
from worker import heartbeat, metrics


@huey.periodic_task(crontab(minute="*"))
def consumer_heartbeat() -> None:
    heartbeat.beat()


@huey.on_startup()
def start_operator_endpoints() -> None:
    # Runs in each worker thread: both calls are idempotent per process.
    heartbeat.beat()
    metrics.serve(runtime.settings)
