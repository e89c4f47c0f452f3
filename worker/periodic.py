"""Periodic jobs with their state in the database: run once per due time, catch up once.

huey's scheduler fires in every consumer and forgets what it missed while down.
Here the database decides: each job has a row with ``next_due_at``; a run starts
only by winning a conditional UPDATE (the claim), so however many consumers tick,
one runs it. A job missed during downtime is simply due, and runs once at the
next tick. A claim carries a lease (``claimed_until``): if the consumer dies mid
run, the job becomes claimable again when the lease ends.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from huey import Huey

from models import JobRun, PeriodicJob, db
from models.clock import utcnow
from worker import memory, metrics
from worker.config import Settings
from worker.errors import safe_error
from worker.triggers import NO_QUEUE, Triggers

log = logging.getLogger("mediflux.periodic")


@dataclass
class JobContext:
    """What a job function gets: when its run started, a deadline, its private state, and the process's
    settings, queue and triggers (from the composition root, the same for every job)."""

    name: str
    started_at: _dt.datetime
    deadline: float  # time.monotonic() value; long jobs stop and resume next run
    settings: Settings
    huey: Huey | None = None  # None in a process without a queue (tools, tests)
    triggers: Triggers = NO_QUEUE
    state: dict[str, Any] = field(default_factory=dict)

    def time_left(self) -> float:
        return self.deadline - time.monotonic()


@dataclass(frozen=True)
class JobSpec:
    """A periodic job: how often, how long a claim holds, and the plain function to run."""

    name: str
    interval: _dt.timedelta
    run: Callable[[JobContext], dict[str, Any]]
    lease: _dt.timedelta = _dt.timedelta(minutes=30)
    time_budget: _dt.timedelta = _dt.timedelta(minutes=5)
    retry_after: _dt.timedelta = _dt.timedelta(minutes=2)
    due_at_start: Callable[[], bool] | None = None  # when true at start-up, the job is due at once


@dataclass(frozen=True)
class RunOutcome:
    name: str
    ran: bool
    ok: bool = False
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def sync_jobs(specs: Mapping[str, JobSpec]) -> None:
    """Make sure every job has a row (new jobs are due at once); keep intervals in step; make a job whose
    ``due_at_start`` holds due now (the BDPM sync while the mirror is empty)."""
    now = utcnow()
    with db.atomic():
        existing = {j.name: j for j in PeriodicJob.select()}
        for spec in specs.values():
            seconds = int(spec.interval.total_seconds())
            row = existing.get(spec.name)
            if row is None:
                PeriodicJob.insert(
                    name=spec.name, interval_seconds=seconds, next_due_at=now
                ).on_conflict_ignore().execute()
            elif row.interval_seconds != seconds:
                PeriodicJob.update(interval_seconds=seconds).where(PeriodicJob.name == spec.name).execute()
    for spec in specs.values():
        if spec.due_at_start is not None and spec.due_at_start():
            PeriodicJob.update(next_due_at=now).where(
                (PeriodicJob.name == spec.name)
                & (PeriodicJob.next_due_at > now)
                & (PeriodicJob.claimed_until.is_null() | (PeriodicJob.claimed_until < now))
            ).execute()


def due_jobs(specs: Mapping[str, JobSpec], now: _dt.datetime | None = None) -> list[str]:
    """Names of jobs whose time has come and that no live claim holds."""
    now = now or utcnow()
    query = PeriodicJob.select(PeriodicJob.name).where(
        (PeriodicJob.next_due_at <= now) & (PeriodicJob.claimed_until.is_null() | (PeriodicJob.claimed_until < now))
    )
    return [row.name for row in query if row.name in specs]


def claim(spec: JobSpec, now: _dt.datetime, owner: str | None = None) -> bool:
    """Take the run of ``spec`` due at ``now``; True for exactly one caller."""
    count = (
        PeriodicJob.update(claimed_until=now + spec.lease, claimed_by=owner or _owner(), last_started_at=now)
        .where(
            (PeriodicJob.name == spec.name)
            & (PeriodicJob.next_due_at <= now)
            & (PeriodicJob.claimed_until.is_null() | (PeriodicJob.claimed_until < now))
        )
        .execute()
    )
    return count == 1


def run_job(
    spec: JobSpec, settings: Settings, *, huey: Huey | None = None, triggers: Triggers = NO_QUEUE
) -> RunOutcome:
    """Claim, run and record one periodic job. Safe to call from any number of consumers."""
    started = utcnow()
    if not claim(spec, started):
        return RunOutcome(spec.name, ran=False)
    row = PeriodicJob.get(PeriodicJob.name == spec.name)
    ctx = JobContext(
        name=spec.name,
        started_at=started,
        deadline=time.monotonic() + spec.time_budget.total_seconds(),
        settings=settings,
        huey=huey,
        triggers=triggers,
        state=dict(row.state or {}),
    )
    t0 = time.monotonic()
    try:
        summary = spec.run(ctx) or {}
    except Exception as exc:  # noqa: BLE001 — a failed job is recorded and retried, never kills the consumer
        error = safe_error(exc)
        log.warning("periodic job %s failed: %s", spec.name, error)
        _finish(spec, row, started, t0, ok=False, error=error, summary={}, state=ctx.state)
        memory.after_bulk_work()
        return RunOutcome(spec.name, ran=True, ok=False, error=error)
    _finish(spec, row, started, t0, ok=True, error=None, summary=summary, state=ctx.state)
    memory.after_bulk_work()
    log.info("periodic job %s done in %.0f ms", spec.name, (time.monotonic() - t0) * 1000)
    return RunOutcome(spec.name, ran=True, ok=True, summary=summary)


def _finish(
    spec: JobSpec,
    row: PeriodicJob,
    started: _dt.datetime,
    t0: float,
    *,
    ok: bool,
    error: str | None,
    summary: dict[str, Any],
    state: dict[str, Any],
) -> None:
    finished = utcnow()
    duration_ms = int((time.monotonic() - t0) * 1000)
    metrics.record_job(spec.name, duration_ms / 1000)
    if ok:
        failures = 0
        next_due = started + spec.interval
    else:
        failures = row.consecutive_failures + 1
        backoff = spec.retry_after * min(2 ** (failures - 1), 64)
        next_due = finished + min(backoff, spec.interval)
    values: dict[Any, Any] = {
        PeriodicJob.next_due_at: next_due,
        PeriodicJob.claimed_until: None,
        PeriodicJob.claimed_by: None,
        PeriodicJob.last_finished_at: finished,
        PeriodicJob.last_duration_ms: duration_ms,
        PeriodicJob.last_error: error,
        PeriodicJob.consecutive_failures: failures,
        PeriodicJob.state: state,
    }
    if ok:
        values[PeriodicJob.last_success_at] = finished
    with db.atomic():
        PeriodicJob.update(values).where(PeriodicJob.name == spec.name).execute()
        JobRun.create(
            job=spec.name,
            started_at=started,
            finished_at=finished,
            duration_ms=duration_ms,
            ok=ok,
            error=error,
            summary=summary,
        )
