"""Operator state: the read-only queries behind `mediflux status`, the dashboard, the doctor and the metrics.

Each number an operator sees is computed here once — queue depth, periodic jobs' state, cache health with its one
hit ratio, process liveness, documents by status — so the four tools cannot disagree. Functions take what they read
(a huey, the settings, the periodic-job specs) and read the database the models are bound to; they write nothing.
Outputs are counts, times, names of jobs and sources, and error types: never ids of users or stored texts.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import peewee
from huey import Huey

from models import ApiCache, ApiCacheStats, Document, PeriodicJob, WebhookDelivery
from models.clock import utcnow
from models.database import sqlite_path
from models.rows import tuples
from worker import heartbeat, leases
from worker.config import Settings
from worker.errors import error_type
from worker.ocr import workspace
from worker.queue import QueueCounts, build_huey, read_counts, read_sqlite_file

# -- queue ------------------------------------------------------------------------------------------------------


def _queue_dict(counts: QueueCounts) -> dict[str, Any]:
    return {"pending": counts.pending, "scheduled": counts.scheduled, "pending_by_priority": counts.by_priority}


def queue_state(huey: Huey) -> dict[str, Any]:
    """Pending and scheduled tasks, and pending tasks per priority (None when the storage cannot tell).

    Raises whatever the queue's driver raises when it is unreachable: each caller decides what that means.
    """
    return _queue_dict(read_counts(huey))


def queue_state_of(settings: Settings) -> dict[str, Any]:
    """:func:`queue_state` without creating anything: a SQLite queue file is read read-only (FileNotFoundError
    when missing); Redis and PostgreSQL through a huey built for the purpose."""
    path = sqlite_path(settings.queue_url)
    if path is None:
        return queue_state(build_huey(settings))
    if not path.exists():
        raise FileNotFoundError(path)
    return _queue_dict(read_sqlite_file(path, settings.queue_name))


def ocr_state(settings: Settings) -> dict[str, Any]:
    """The OCR stage beside its queue (``pending_by_priority`` at ``PRIORITY_OCR``): documents being OCRed
    now, job folders a crash left (cleaned at the next OCR), busy Tesseract slots out of the pool."""
    return workspace.state(settings)


# -- periodic jobs ----------------------------------------------------------------------------------------------


class JobSpecLike(Protocol):
    """What this module needs of a periodic job's spec (``worker.periodic.JobSpec``): its interval."""

    @property
    def interval(self) -> _dt.timedelta: ...


def _iso(value: _dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def periodic_jobs(specs: Mapping[str, JobSpecLike] | None = None, now: _dt.datetime | None = None) -> list[dict]:
    """One dict per periodic job: interval, last run, last success, duration, next due, running, last error
    (as stored: type and first line) and failed runs in a row.

    With ``specs``, every job they name, in their order (a job that never ran has empty times); without (the
    doctor and the metrics, which do not load the job registry), every job recorded in ``periodic_jobs``.
    """
    now = now or utcnow()
    rows = {r.name: r for r in PeriodicJob.select()}
    if specs is None:
        intervals = {name: rows[name].interval_seconds for name in sorted(rows)}
    else:
        intervals = {name: int(spec.interval.total_seconds()) for name, spec in specs.items()}
    out = []
    for name, interval in intervals.items():
        row = rows.get(name)
        out.append(
            {
                "name": name,
                "interval_seconds": interval,
                "last_run": _iso(row.last_started_at) if row else None,
                "last_success": _iso(row.last_success_at) if row else None,
                "last_duration_ms": row.last_duration_ms if row else None,
                "next_due": _iso(row.next_due_at) if row else None,
                "running": bool(row and row.claimed_until and row.claimed_until > now),
                "last_error": row.last_error if row else None,
                "consecutive_failures": row.consecutive_failures if row else 0,
            }
        )
    return out


# -- cache health -----------------------------------------------------------------------------------------------

# The counters kept per source in ``api_cache_stats`` (worker.cache.stats adds to them in batches).
CACHE_COUNTERS = (
    "hits",
    "misses",
    "stale_served",
    "stale_if_error",
    "upstream_calls",
    "upstream_errors",
    "not_modified",
    "rejected",
)
CACHE_STATES = ("fresh", "stale", "expired")


def hit_ratio(hits: int, stale_served: int, misses: int) -> float | None:
    """The share of cache reads answered from a stored entry: (hits + stale served) / (hits + stale served + misses).

    Every read counts once: a hit (fresh entry), a stale read (served while it is refreshed) or a miss (no usable
    entry: the read went upstream). A stale answer after an upstream failure (``stale_if_error``) was a miss first,
    so it is not counted again. None before the first read.
    """
    served = hits + stale_served
    reads = served + misses
    return round(served / reads, 4) if reads else None


def percent(ratio: float | None) -> str:
    """A ratio as operator pages print it: ``66.7 %``, or ``–`` before the first read."""
    return "–" if ratio is None else f"{ratio * 100:.1f} %"


def _count(condition: peewee.Expression) -> peewee.Function:
    return peewee.fn.SUM(peewee.Case(None, [(condition, 1)], 0))


def cache_health(sources: Iterable[str] = (), now: _dt.datetime | None = None) -> dict[str, dict[str, Any]]:
    """Per source: fetched entries fresh / stale / expired (and how many of them are negative answers), entries
    failing upstream, the counters of ``api_cache_stats``, reads served, the hit ratio (:func:`hit_ratio`), and the
    type and time of the latest upstream error.

    ``sources`` are always listed, first and in that order; other sources found in the tables follow, sorted.
    Counts are as flushed: a process adds its counts to the database every few seconds.
    """
    now = now or utcnow()
    fetched = ApiCache.fetched_at.is_null(False)
    entries = {
        source: (fresh, stale, expired, negative, failing)
        for source, fresh, stale, expired, negative, failing in tuples(
            ApiCache.select(
                ApiCache.source,
                _count(fetched & (ApiCache.fresh_until > now)),
                _count(fetched & (ApiCache.fresh_until <= now) & (ApiCache.stale_until > now)),
                _count(fetched & (ApiCache.stale_until <= now)),
                _count(fetched & (ApiCache.negative == True)),
                _count(ApiCache.error_count > 0),
            ).group_by(ApiCache.source)
        )
    }
    counters = {row.source: row for row in ApiCacheStats.select()}
    names = list(dict.fromkeys(sources))
    names += sorted((set(entries) | set(counters)) - set(names))
    out: dict[str, dict[str, Any]] = {}
    for source in names:
        fresh, stale, expired, negative, failing = (int(n or 0) for n in entries.get(source, (0, 0, 0, 0, 0)))
        row = counters.get(source)
        counts = {f: int(getattr(row, f)) if row else 0 for f in CACHE_COUNTERS}
        out[source] = {
            "fresh": fresh,
            "stale": stale,
            "expired": expired,
            "entries": fresh + stale + expired,
            "negative": negative,
            "failing": failing,
            **counts,
            "served": counts["hits"] + counts["stale_served"],
            "hit_ratio": hit_ratio(counts["hits"], counts["stale_served"], counts["misses"]),
            **_last_error(source, failing),
        }
    return out


def _last_error(source: str, failing: int) -> dict[str, str | None]:
    """The latest upstream error of ``source``: its type only (a stored message may quote a URL with a key).

    A success clears an entry's error, so only failing entries have one.
    """
    last = (
        ApiCache.select(ApiCache.last_error, ApiCache.last_error_at)
        .where((ApiCache.source == source) & ApiCache.last_error_at.is_null(False))
        .order_by(ApiCache.last_error_at.desc())
        .first()
        if failing
        else None
    )
    if last is None:
        return {"last_error": None, "last_error_at": None}
    return {"last_error": error_type(last.last_error), "last_error_at": _iso(last.last_error_at.replace(microsecond=0))}


# -- processes and documents ------------------------------------------------------------------------------------


def processes(settings: Settings, now: _dt.datetime | None = None) -> dict[str, Any]:
    """Consumers with a live heartbeat (name, last beat) and whether a watcher holds the inbox's lease."""
    now = now or utcnow()
    return {
        "consumers": heartbeat.live_consumers(now),
        "watcher": leases.holder_of(leases.watcher_lease(settings.inbox), now) is not None,
    }


def documents_by_status() -> dict[str, int]:
    """Stored documents per status, by status name."""
    query = Document.select(Document.status, peewee.fn.COUNT(Document.id)).group_by(Document.status)
    return dict(sorted(tuples(query)))


# -- webhooks ---------------------------------------------------------------------------------------------------


def webhook_deliveries(now: _dt.datetime | None = None) -> dict[str, Any]:
    """Webhook deliveries per status, those given up in the last 24 h (with the last error code of the latest),
    and the oldest pending one's age in seconds."""
    now = now or utcnow()
    counts = dict(
        tuples(
            WebhookDelivery.select(WebhookDelivery.status, peewee.fn.COUNT(WebhookDelivery.id)).group_by(
                WebhookDelivery.status
            )
        )
    )
    failed_day = WebhookDelivery.select().where(
        (WebhookDelivery.status == "failed") & (WebhookDelivery.finished_at >= now - _dt.timedelta(days=1))
    )
    latest = failed_day.order_by(WebhookDelivery.finished_at.desc()).first()
    oldest = (
        WebhookDelivery.select(peewee.fn.MIN(WebhookDelivery.created_at)).where(WebhookDelivery.status == "pending")
    ).scalar()
    if isinstance(oldest, str):
        oldest = WebhookDelivery.created_at.python_value(oldest)
    return {
        "pending": counts.get("pending", 0),
        "delivered": counts.get("delivered", 0),
        "failed": counts.get("failed", 0),
        "failed_last_24h": failed_day.count(),
        "last_failure": None if latest is None else {"at": _iso(latest.finished_at), "error": latest.last_error},
        "oldest_pending_seconds": None if oldest is None else int((now - oldest).total_seconds()),
    }
