"""The list of periodic jobs: name → interval and the plain function that does the work.

The consumer's scheduler tick (tasks.periodic) reads this; ``mediflux status``
shows it. Add a job here and it is picked up by both, and runs once at the next
start if it was never run.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Mapping

from worker import housekeeping
from worker.analysis import backlog as analysis_backlog
from worker.bdpm import sync as bdpm_sync
from worker.cache import refresh as cache_refresh
from worker.config import Settings
from worker.ingest import rescan as inbox_rescan
from worker.periodic import JobSpec
from worker.retention import erase as retention_erase
from worker.retention import prune as retention_prune
from worker.retention import sweep as retention_sweep

PERIODIC_JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("housekeeping", _dt.timedelta(minutes=15), housekeeping.run),
        JobSpec("analysis_backlog", _dt.timedelta(minutes=10), analysis_backlog.run),
        JobSpec(
            "sweep",
            _dt.timedelta(minutes=5),
            retention_sweep.run,
            lease=_dt.timedelta(minutes=10),
            time_budget=_dt.timedelta(seconds=60),
        ),
        JobSpec(
            "prune",
            _dt.timedelta(days=1),
            retention_prune.run,
            lease=_dt.timedelta(hours=2),
            time_budget=_dt.timedelta(minutes=30),
        ),
        JobSpec("erasure_backlog", _dt.timedelta(minutes=10), retention_erase.run_backlog),
        JobSpec(
            "cache_refresh",
            _dt.timedelta(minutes=5),
            cache_refresh.run,
            lease=_dt.timedelta(minutes=10),
            time_budget=_dt.timedelta(minutes=4),
        ),
        JobSpec(
            "inbox_rescan",
            _dt.timedelta(minutes=1),
            inbox_rescan.run,
            lease=_dt.timedelta(minutes=10),
            time_budget=_dt.timedelta(minutes=4),
            retry_after=_dt.timedelta(minutes=1),
        ),
        JobSpec(
            "bdpm_sync",
            _dt.timedelta(days=1),  # MEDIFLUX_BDPM_SYNC_EVERY: see jobs_for
            bdpm_sync.run,
            lease=_dt.timedelta(minutes=30),
            time_budget=_dt.timedelta(minutes=20),
            retry_after=_dt.timedelta(minutes=5),
            due_at_start=bdpm_sync.mirror_empty,
        ),
    )
}


def jobs_for(settings: Settings) -> Mapping[str, JobSpec]:
    """The jobs with the intervals the settings choose (``bdpm_sync``: ``MEDIFLUX_BDPM_SYNC_EVERY``)."""
    every = _dt.timedelta(seconds=settings.bdpm_sync_every)
    if PERIODIC_JOBS["bdpm_sync"].interval == every:
        return PERIODIC_JOBS
    return {**PERIODIC_JOBS, "bdpm_sync": dataclasses.replace(PERIODIC_JOBS["bdpm_sync"], interval=every)}
