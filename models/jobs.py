"""The worker's own ledger: periodic-job state and the history of their runs.

The queue is only a trigger; whether a periodic job is due, running (and until
when its claim holds) or failed lives here, so a restart or a second consumer
never loses or doubles a run.
"""

from __future__ import annotations

import peewee

from models.base import BaseModel, Json, UTCDateTimeField


class PeriodicJob(BaseModel):
    """State of one periodic job. A run is claimed by a conditional UPDATE on this row."""

    name = peewee.CharField(max_length=64, unique=True)
    interval_seconds = peewee.IntegerField()
    next_due_at = UTCDateTimeField(index=True)
    claimed_until = UTCDateTimeField(null=True)
    claimed_by = peewee.CharField(max_length=128, null=True)
    last_started_at = UTCDateTimeField(null=True)
    last_finished_at = UTCDateTimeField(null=True)
    last_success_at = UTCDateTimeField(null=True)
    last_duration_ms = peewee.IntegerField(null=True)
    last_error = peewee.TextField(null=True)
    consecutive_failures = peewee.IntegerField(default=0)
    state = Json(default=dict)  # job-private memory between runs (no personal data)

    class Meta:
        table_name = "periodic_jobs"


class JobRun(BaseModel):
    """One finished (or failed) run of a periodic job: when, how long, outcome, summary."""

    job = peewee.CharField(max_length=64)
    started_at = UTCDateTimeField()
    finished_at = UTCDateTimeField(null=True)
    duration_ms = peewee.IntegerField(null=True)
    ok = peewee.BooleanField(default=False)
    error = peewee.TextField(null=True)
    summary = Json(default=dict)

    class Meta:
        table_name = "job_runs"
        indexes = ((("job", "started_at"), False),)
