"""Rows of ``api_cache``: the lean point read of the hot path, and the writes of the fetch path.

The read is one prepared SELECT on the unique (source, endpoint, params_hash) index with
no ORM in between (the hit path must cost about a raw sqlite3 read + json.loads). Writes
go through peewee: an upsert for a new answer, a small UPDATE for a 304 or an error.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from typing import Any

from models import ApiCache, db, is_postgres
from worker.cache.fetch import Fetched
from worker.cache.policy import SourcePolicy

_HOT = "id, response, fetched_at, fresh_until, stale_until, negative, last_error_at"
_FULL = _HOT + ", etag, last_modified, last_error"  # what the fetch path needs besides
_UTC = _dt.UTC


@dataclass(slots=True)
class Entry:
    """One cached answer as the read path needs it."""

    id: int
    data: Any
    fetched_at: _dt.datetime | None
    fresh_until: _dt.datetime | None
    stale_until: _dt.datetime | None
    negative: bool
    last_error_at: _dt.datetime | None
    etag: str | None = None  # the three below only with read(..., full=True)
    last_modified: str | None = None
    last_error: str | None = None

    @property
    def has_data(self) -> bool:
        return self.fetched_at is not None

    @property
    def failing(self) -> bool:
        """The last upstream attempt since this data was fetched failed."""
        return self.last_error_at is not None and (self.fetched_at is None or self.last_error_at >= self.fetched_at)


def _when(value: Any) -> _dt.datetime | None:
    if value.__class__ is str:  # SQLite: fixed-width UTC text
        return _dt.datetime.fromisoformat(value + "+00:00")
    if value is None or value.tzinfo:
        return value
    return value.replace(tzinfo=_UTC)


# The SELECT per (backend, full). Keyed by the backend's class, not by the database object's id():
# an id can be reused by a new database object once an old one is freed (another backend, another
# parameter style).
_SQL: dict[tuple[type, bool], tuple[bool, str]] = {}


def read(source: str, endpoint: str, key: str, full: bool = False) -> Entry | None:
    """The entry of a key, or None. One indexed SELECT; JSON decoded once. ``full`` adds the
    validators and the last error (the fetch path needs them; a hit does not)."""
    target = db.obj
    prepared = _SQL.get((type(target), full))
    if prepared is None:
        p = db.param
        prepared = _SQL[(type(target), full)] = (
            is_postgres(target),
            f"SELECT {_FULL if full else _HOT} FROM api_cache WHERE source = {p} AND endpoint = {p} "
            f"AND params_hash = {p}",
        )
    pg, sql = prepared
    conn = target.connection()  # the DB-API connection itself: peewee's execute_sql costs as much as the query
    if pg:
        with conn.cursor() as cursor:  # psycopg2 in autocommit (peewee's mode): no transaction left open
            cursor.execute(sql, (source, endpoint, key))
            row = cursor.fetchone()
    else:
        row = conn.execute(sql, (source, endpoint, key)).fetchone()
    if row is None:
        return None
    data = row[1]
    if isinstance(data, (str, bytes)):
        data = json.loads(data)
    entry = Entry(row[0], data, _when(row[2]), _when(row[3]), _when(row[4]), bool(row[5]), _when(row[6]))
    if full:
        entry.etag, entry.last_modified, entry.last_error = row[7], row[8], row[9]
    return entry


def _where(source: str, endpoint: str, key: str):
    return (ApiCache.source == source) & (ApiCache.endpoint == endpoint) & (ApiCache.params_hash == key)


def store(
    source: str,
    endpoint: str,
    key: str,
    params: dict[str, Any],
    fetched: Fetched,
    now: _dt.datetime,
    policy: SourcePolicy,
) -> None:
    """Write a validated answer (insert or replace), with new horizons; clears the error state."""
    fresh_until, stale_until = policy.horizons(now, negative=fetched.negative)
    values = {
        ApiCache.params: params,
        ApiCache.response: fetched.data,
        ApiCache.status_code: fetched.status,
        ApiCache.etag: fetched.etag,
        ApiCache.last_modified: fetched.last_modified,
        ApiCache.fetched_at: now,
        ApiCache.fresh_until: fresh_until,
        ApiCache.stale_until: stale_until,
        ApiCache.negative: fetched.negative,
        ApiCache.error_count: 0,
        ApiCache.last_error: None,
        ApiCache.last_error_at: None,
    }
    insert = {field.name: value for field, value in values.items()}
    (
        ApiCache.insert(source=source, endpoint=endpoint, params_hash=key, created_at=now, **insert)
        .on_conflict(conflict_target=[ApiCache.source, ApiCache.endpoint, ApiCache.params_hash], update=values)
        .execute()
    )


def revalidated(entry_id: int, now: _dt.datetime, policy: SourcePolicy) -> None:
    """A 304: the stored answer is still right; only its horizons move (the body is not rewritten)."""
    row = ApiCache.get_by_id(entry_id)
    fresh_until, stale_until = policy.horizons(now, negative=row.negative)
    (
        ApiCache.update(
            fetched_at=now,
            fresh_until=fresh_until,
            stale_until=stale_until,
            error_count=0,
            last_error=None,
            last_error_at=None,
        )
        .where(ApiCache.id == entry_id)
        .execute()
    )


def record_error(source: str, endpoint: str, key: str, params: dict[str, Any], reason: str, now: _dt.datetime) -> None:
    """Note a failed upstream attempt on the entry (created empty if needed: waiters watch it)."""
    updated = (
        ApiCache.update(error_count=ApiCache.error_count + 1, last_error=reason[:300], last_error_at=now)
        .where(_where(source, endpoint, key))
        .execute()
    )
    if not updated:
        (
            ApiCache.insert(
                source=source,
                endpoint=endpoint,
                params_hash=key,
                params=params,
                error_count=1,
                last_error=reason[:300],
                last_error_at=now,
                created_at=now,
            )
            .on_conflict_ignore()
            .execute()
        )


def add_reads(reads: dict[int, tuple[int, _dt.datetime]]) -> None:
    """Batched hit bookkeeping: ``{entry id: (hits, last read)}`` in one transaction."""
    with db.atomic():
        for entry_id, (count, last) in sorted(reads.items()):
            (ApiCache.update(hits=ApiCache.hits + count, last_read_at=last).where(ApiCache.id == entry_id).execute())
