"""The list of periodic jobs: name → interval and the plain function that does the work.

The consumer's scheduler tick (tasks.periodic) reads this; ``mediflux status``
shows it. Add a job here and it is picked up by both, and runs once at the next
start if it was never run.
"""

from __future__ import annotations

import datetime as _dt

from worker import housekeeping
from worker.analysis import backlog as analysis_backlog
from worker.cache import refresh as cache_refresh
from worker.ingest import rescan as inbox_rescan
from worker.periodic import JobSpec
from worker.retention import erase as retention_erase
from worker.retention import prune as retention_prune
from worker.retention import sweep as retention_sweep
from worker.submissions import recover as submission_backlog
from worker.webhooks import deliver as webhook_deliveries

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
        # Due at every tick (each minute): a submission stranded by a kill is picked up within a minute.
        JobSpec(
            "submission_backlog",
            _dt.timedelta(seconds=30),
            submission_backlog.run,
            lease=_dt.timedelta(minutes=2),
            time_budget=_dt.timedelta(seconds=50),
            retry_after=_dt.timedelta(seconds=30),
        ),
        JobSpec(
            "webhook_deliveries",
            _dt.timedelta(seconds=30),  # due at every tick: a delivery a kill left is resent within a minute
            webhook_deliveries.run,
            lease=_dt.timedelta(minutes=5),
            time_budget=_dt.timedelta(seconds=50),
            retry_after=_dt.timedelta(minutes=1),
        ),
    )
}
