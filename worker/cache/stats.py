"""Cache counters: counted in memory on the hot path, added to the database in batches.

A hit must not write: it bumps an in-process counter and notes the entry as read.
Every few seconds (on the next read, at the refresh job, at exit) the counts are added
to ``api_cache_stats`` and to the entries' ``hits``/``last_read_at`` in one transaction.
A killed process loses at most those few seconds of counts (statistics, not data).
"""

from __future__ import annotations

import atexit
import datetime as _dt
import logging
import threading
import time
from collections import defaultdict
from typing import Any

import peewee

from models import ApiCacheStats, db
from models.clock import utcnow
from worker import metrics, opstate
from worker.cache import entries
from worker.cache.keys import SOURCES

log = logging.getLogger("mediflux.cache")
FLUSH_INTERVAL = 5.0


class Counters:
    """Thread-safe in-memory counts, flushed to the database by :meth:`flush`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = defaultdict(int)
        self._metrics: dict[tuple[str, str], int] = defaultdict(int)  # not yet in this process's Prometheus counters
        self._reads: dict[int, tuple[int, _dt.datetime]] = {}
        self._last_flush = time.monotonic()

    def add(self, source: str, field: str, n: int = 1) -> None:
        with self._lock:
            self._counts[(source, field)] += n
            self._metrics[(source, field)] += n

    def read(self, source: str, field: str, entry_id: int, now: _dt.datetime) -> None:
        """A served read (hit or stale) of ``entry_id``; flushes when the interval has passed."""
        with self._lock:
            self._counts[(source, field)] += 1
            self._metrics[(source, field)] += 1
            previous = self._reads.get(entry_id)
            self._reads[entry_id] = ((previous[0] if previous else 0) + 1, now)
            due = time.monotonic() - self._last_flush >= FLUSH_INTERVAL
            if due:
                self._last_flush = time.monotonic()
        if due:
            self.flush()

    def touch(self, entry_id: int, now: _dt.datetime) -> None:
        """A read answered by a fetch: the entry counts as read (the refresh job keeps read entries fresh)."""
        with self._lock:
            previous = self._reads.get(entry_id)
            self._reads[entry_id] = (previous[0] if previous else 0, now)

    def clear(self) -> None:
        """Drop pending counts (a process about to use another database; tests between databases)."""
        with self._lock:
            self._counts, self._reads = defaultdict(int), {}

    def flush(self) -> None:
        """Add the pending counts to the database; on failure they are kept for the next flush."""
        with self._lock:
            counts, self._counts = self._counts, defaultdict(int)
            reads, self._reads = self._reads, {}
            pending_metrics, self._metrics = self._metrics, defaultdict(int)
            self._last_flush = time.monotonic()
        for (source, field), n in pending_metrics.items():
            _mirror(source, field, n)
        if not counts and not reads:
            return
        try:
            _write(counts, reads)  # peewee autoconnects; never close the caller's connection
        except (peewee.PeeweeException, RuntimeError, AttributeError) as exc:  # unbound/closed db, locked file
            log.warning("cache counters not flushed: %s", type(exc).__name__)
            with self._lock:
                for key, n in counts.items():
                    self._counts[key] += n
                for entry_id, read in reads.items():
                    self._reads.setdefault(entry_id, read)


_PROMETHEUS_OUTCOMES = {"hits": "hit", "misses": "miss", "stale_served": "stale", "stale_if_error": "stale"}


def _mirror(source: str, field: str, n: int) -> None:
    """Add ``n`` events to this process's Prometheus counters (worker.metrics), in batches at each flush:
    the hit path only bumps a dict entry."""
    outcome = _PROMETHEUS_OUTCOMES.get(field)
    if outcome is not None:
        metrics.record_cache(source, outcome, n)
    elif field == "upstream_errors":
        metrics.record_upstream_error(source, n)


def _write(counts: dict[tuple[str, str], int], reads: dict[int, tuple[int, _dt.datetime]]) -> None:
    now = utcnow()
    per_source: dict[str, dict[str, int]] = defaultdict(dict)
    for (source, field), n in counts.items():
        per_source[source][field] = n
    with db.atomic():
        for source, incs in sorted(per_source.items()):
            update = {getattr(ApiCacheStats, f): getattr(ApiCacheStats, f) + peewee.EXCLUDED[f] for f in incs}
            update[ApiCacheStats.updated_at] = now
            (
                ApiCacheStats.insert(source=source, updated_at=now, **incs)
                .on_conflict(conflict_target=[ApiCacheStats.source], update=update)
                .execute()
            )
        if reads:
            entries.add_reads(reads)


COUNTERS = Counters()
atexit.register(COUNTERS.flush)


def summary(now: _dt.datetime | None = None) -> dict[str, dict[str, Any]]:
    """This process's pending counts flushed, then every source's health (:func:`worker.opstate.cache_health`)."""
    COUNTERS.flush()
    return opstate.cache_health(SOURCES, now)
