"""Scheduler tick and periodic-job runner: thin huey wrappers over worker.periodic.

Every consumer's scheduler enqueues ``scheduler_tick`` each minute and once at
start (catch-up after downtime); the tick enqueues ``run_periodic_job`` for each
due job, and the database claim in worker.periodic lets exactly one run.
"""

from __future__ import annotations

from huey import crontab

from tasks.app import huey
from worker import periodic
from worker.queue import PRIORITY_OPS
from worker.schedule import PERIODIC_JOBS


@huey.task()
def run_periodic_job(name: str) -> None:
    spec = PERIODIC_JOBS.get(name)
    if spec is not None:
        periodic.run_job(spec, resources={"huey": huey})


@huey.periodic_task(crontab(minute="*"), priority=PRIORITY_OPS)
def scheduler_tick() -> None:
    for name in periodic.due_jobs(PERIODIC_JOBS):
        run_periodic_job(name)


@huey.on_startup()
def catch_up_at_start() -> None:
    # Runs in each worker thread at start: duplicate ticks are harmless (the claim dedups).
    periodic.sync_jobs(PERIODIC_JOBS)
    scheduler_tick()
