"""The expiry sweep (periodic, every few minutes; also ``mediflux sweep``): delete what has expired.

What goes: api_cache entries past their usable-stale horizon (``stale_until``)
— except entries that can still be revalidated cheaply (they carry an ETag or
Last-Modified), kept ``cache_revalidate`` more days; expired leases; job-run
history past 30 days; huey's leftover results and locks (the housekeeping
helpers, shared). Each in short chunked transactions with the cutoff fixed once
per run and a time budget; then a bounded incremental vacuum gives the freed
pages back to the file system. Never a full VACUUM.
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
from collections.abc import Callable
from typing import Any

import peewee
from huey import Huey

from models import ApiCache, PeriodicJob, db
from models.clock import utcnow
from worker import housekeeping, leases, metrics
from worker.config import Settings
from worker.periodic import JobContext
from worker.retention.chunks import DEFAULT_CHUNK, ChunkStats, delete_chunked, out_of_time
from worker.retention.policies import RetentionPolicies
from worker.retention.space import VACUUM_PAGES, incremental_vacuum

log = logging.getLogger("mediflux.retention.sweep")
JOB_NAME = "sweep"


def expired_cache(now: _dt.datetime, policies: RetentionPolicies) -> peewee.Expression:
    """api_cache rows past ``stale_until``; with a validator, only past the revalidation window too.

    Rows without ``stale_until`` are never swept (they have no usable horizon yet).
    """
    keep_validated_until = now - _dt.timedelta(days=policies.cache_revalidate)
    no_validator = ApiCache.etag.is_null() & ApiCache.last_modified.is_null()
    return (ApiCache.stale_until < keep_validated_until) | ((ApiCache.stale_until < now) & no_validator)


def sweep(
    now: _dt.datetime,
    policies: RetentionPolicies,
    *,
    deadline: float | None = None,
    huey: Huey | None = None,
    state: dict[str, Any] | None = None,
    chunk: int = DEFAULT_CHUNK,
    vacuum_pages: int = VACUUM_PAGES,
    on_chunk: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """One sweep at ``now`` (the cutoffs), until done or ``deadline`` (monotonic); returns counts."""
    cache = delete_chunked(
        ApiCache, ApiCache.id, expired_cache(now, policies), chunk=chunk, deadline=deadline, on_chunk=on_chunk
    )
    expired_leases = 0
    while not out_of_time(deadline):
        n = leases.delete_expired(now, limit=chunk)
        expired_leases += n
        if n < chunk:
            break
    job_runs = housekeeping.prune_job_history(now - _dt.timedelta(days=housekeeping.JOB_HISTORY_DAYS), deadline)
    pruned_keys = 0
    if huey is not None and state is not None:
        _, pruned_keys = housekeeping.prune_leftovers(huey, state)
    space = incremental_vacuum(db.obj, vacuum_pages)
    for category, count in (
        ("api_cache", cache.deleted),
        ("leases", expired_leases),
        ("job_runs", job_runs),
        ("huey_keys", pruned_keys),
    ):
        metrics.record_deleted("sweep", category, count)
    summary = {
        "api_cache": cache.deleted,
        "leases": expired_leases,
        "job_runs": job_runs,
        "huey_keys": pruned_keys,
        "longest_tx_ms": round(cache.longest_ms, 1),
        "p99_tx_ms": round(cache.p99_ms(), 1),
        "complete": cache.complete and not out_of_time(deadline),
        **space,
    }
    log.info(
        "sweep: %s cache rows, %s leases, %s job runs, %s huey keys deleted; %s pages vacuumed%s",
        cache.deleted,
        expired_leases,
        job_runs,
        pruned_keys,
        space["vacuumed_pages"],
        "" if summary["complete"] else " (time budget spent: the next run resumes)",
    )
    return summary


def expired_cache_count(now: _dt.datetime, policies: RetentionPolicies) -> int:
    return ApiCache.select().where(expired_cache(now, policies)).count()


def run(ctx: JobContext) -> dict[str, Any]:
    """The ``sweep`` periodic job."""
    settings = ctx.settings
    return sweep(ctx.started_at, settings.retention, deadline=ctx.deadline, huey=ctx.huey, state=ctx.state)


def run_now(
    settings: Settings,
    huey: Huey | None,
    budget_seconds: float,
    chunk: int = DEFAULT_CHUNK,
    on_chunk: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """``mediflux sweep``: the same sweep, sharing the periodic job's memory of leftover keys."""
    row = PeriodicJob.get_or_none(PeriodicJob.name == JOB_NAME)
    state = dict(row.state or {}) if row else {}
    summary = sweep(
        utcnow(),
        settings.retention,
        deadline=time.monotonic() + budget_seconds,
        huey=huey,
        state=state,
        chunk=chunk,
        on_chunk=on_chunk,
    )
    if row is not None:
        PeriodicJob.update(state=state).where(PeriodicJob.name == JOB_NAME).execute()
    return summary


__all__ = ["ChunkStats", "expired_cache", "expired_cache_count", "run", "run_now", "sweep"]
