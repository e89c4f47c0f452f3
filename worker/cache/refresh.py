"""Background refresh: keep entries that are read fresh, before they go stale.

The periodic job ``cache_refresh`` picks entries close to ``fresh_until`` (per-source
``refresh_ahead``) that were read within the last TTL, and revalidates each with a
conditional request (If-None-Match / If-Modified-Since: a 304 only moves the horizons).
Each refresh takes the key's lease, so it never races a reader's fetch; a failure keeps
the old entry. It also prunes rows nobody can use any more. The queue task
``tasks.cache.refresh_entry`` (enqueued by stale reads) calls :func:`refresh_entry`.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from models import ApiCache, db
from models.clock import utcnow
from worker import cache
from worker.cache.keys import SOURCES
from worker.cache.stats import COUNTERS
from worker.periodic import JobContext

BATCH = 200
PRUNE_AFTER = _dt.timedelta(days=30)
FORCE = _dt.timedelta(days=36500)
RETRY_BASE = _dt.timedelta(minutes=5)
RETRY_MAX = _dt.timedelta(hours=6)
SOURCE_DOWN_AFTER = 3


def refresh_entry(source: str, endpoint: str, params: dict[str, Any]) -> str:
    """Refresh one entry if it is stale (what a stale read enqueues); returns the outcome."""
    return cache.client().refresh(source, endpoint, params)


def retry_backoff(error_count: int) -> _dt.timedelta:
    """How long an entry whose refreshes keep failing is left alone: 5 min doubling, at most 6 h."""
    return min(RETRY_BASE * 2 ** max(0, error_count - 1), RETRY_MAX)


def candidates(
    source: str, ahead: _dt.timedelta, read_since: _dt.datetime | None, now: _dt.datetime, limit: int = BATCH
) -> list[tuple[str, dict[str, Any]]]:
    """(endpoint, params) of entries with data expiring within ``ahead``, soonest first; entries whose
    refreshes keep failing wait their backoff."""
    query = (
        ApiCache.select(ApiCache.endpoint, ApiCache.params, ApiCache.error_count, ApiCache.last_error_at)
        .where(
            (ApiCache.source == source)
            & ApiCache.fetched_at.is_null(False)
            & (ApiCache.negative == False)
            & (ApiCache.fresh_until < now + ahead)
        )
        .order_by(ApiCache.fresh_until)
        .limit(limit)
    )
    if read_since is not None:
        query = query.where(ApiCache.last_read_at >= read_since)
    return [
        (row.endpoint, row.params)
        for row in query
        if row.last_error_at is None or row.last_error_at + retry_backoff(row.error_count) <= now
    ]


def refresh_many(
    sources: Iterable[str],
    *,
    force: bool = False,
    recently_read: bool = True,
    time_left: Callable[[], float] = lambda: float("inf"),
    on_done: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Refresh due entries of ``sources`` while time is left; counts per outcome. After
    ``SOURCE_DOWN_AFTER`` failures in a row a source is left for the next run (it is down)."""
    client = cache.client()
    COUNTERS.flush()  # last_read_at of recent hits must be in the table before we choose
    now = utcnow()
    outcomes: Counter[str] = Counter()
    for source in sources:
        policy = client.policies[source]
        if not policy.base_url:
            continue
        ahead = FORCE if force else policy.refresh_ahead
        since = now - _dt.timedelta(seconds=policy.ttl) if recently_read else None
        failures_in_row = 0
        for endpoint, params in candidates(source, ahead, since, now, limit=10_000 if force else BATCH):
            if time_left() < policy.timeout + 1 or failures_in_row >= SOURCE_DOWN_AFTER:
                outcomes["deferred"] += 1
                continue
            outcome = client.refresh(source, endpoint, params, ahead=ahead)
            failures_in_row = failures_in_row + 1 if outcome == "failed" else 0
            outcomes[outcome] += 1
            if on_done:
                on_done(outcome)
    return dict(outcomes)


def prune(now: _dt.datetime, limit: int = 1000) -> int:
    """Delete rows of no further use: failures that never had data, and entries dead and unread for 30 days.

    Expired entries are otherwise kept: their ETag still lets a later fetch be a cheap 304.
    """
    old = now - PRUNE_AFTER
    dead = (ApiCache.fetched_at.is_null() & (ApiCache.last_error_at < now - _dt.timedelta(days=1))) | (
        (ApiCache.stale_until < old) & (ApiCache.last_read_at.is_null() | (ApiCache.last_read_at < old))
    )
    with db.atomic():
        ids = [r.id for r in ApiCache.select(ApiCache.id).where(dead).limit(limit)]
        return ApiCache.delete().where(ApiCache.id.in_(ids)).execute() if ids else 0


def run(ctx: JobContext) -> dict[str, Any]:
    """The ``cache_refresh`` periodic job (see module doc)."""
    summary = refresh_many(SOURCES, time_left=ctx.time_left)
    started = time.monotonic()
    summary["pruned"] = prune(utcnow())
    summary["prune_ms"] = int((time.monotonic() - started) * 1000)
    return summary
