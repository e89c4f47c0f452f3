"""Scheduler tick and periodic-job runner: thin huey wrappers over worker.periodic.

Every consumer's scheduler enqueues ``scheduler_tick`` each minute and once at
start (catch-up after downtime); the tick enqueues ``run_periodic_job`` for each
due job, and the database claim in worker.periodic lets exactly one run. Each job
gets the runtime's settings, huey and triggers in its context.
"""

from __future__ import annotations

from huey import Huey, crontab
from huey.api import TaskWrapper

from tasks.guard import contained
from worker import periodic
from worker.queue import PRIORITY_OPS
from worker.runtime import Runtime
from worker.submissions import recover


def register(huey: Huey, runtime: Runtime) -> TaskWrapper:
    @huey.task()
    @contained
    def run_periodic_job(name: str) -> None:
        spec = runtime.jobs.get(name)
        if spec is not None:
            periodic.run_job(spec, runtime.settings, huey=huey, triggers=runtime.triggers)

    @huey.periodic_task(crontab(minute="*"), priority=PRIORITY_OPS)
    @contained
    def scheduler_tick() -> None:
        for name in periodic.due_jobs(runtime.jobs):
            run_periodic_job(name)

    @huey.on_startup()
    @contained
    def catch_up_at_start() -> None:
        # Runs in each worker thread at start: duplicate ticks are harmless (the claim dedups).
        periodic.sync_jobs(runtime.jobs)
        scheduler_tick()
        recover.at_startup(runtime.settings, runtime.triggers)  # submissions a kill left: now, not next tick

    return run_periodic_job
