"""The huey instance, built from ``MEDIFLUX_QUEUE_URL``: SQLite (default), Redis or PostgreSQL.

Messages are JSON (:mod:`worker.serializer`); result storage is off (tasks that
need an answer write it to the database, the ledger); times are UTC. The SQLite
queue runs with ``secure_delete=on``: a dequeued or purged task is zeroed in the
file, not left in free pages (erasure relies on it, :mod:`worker.queuescrub`). Every
backend honours task priorities (:data:`PRIORITY_INGEST`, :data:`PRIORITY_ANALYSIS`):
SQLite and PostgreSQL natively, Redis through huey's sorted-set queue
(``PriorityRedisHuey``, Redis ≥ 5).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import peewee
from huey import Huey, PriorityRedisHuey, SqliteHuey
from huey.contrib.sql_huey import SqlHuey, SqlStorage
from huey.storage import PriorityRedisStorage, RedisStorage, SqliteStorage

from models.database import BUSY_TIMEOUT_SECONDS, create_private_file, postgres_params, sqlite_path
from worker.config import Settings
from worker.serializer import JSONSerializer

# Pending tasks are taken highest priority first (default 0). Ingestion empties the inbox before anything
# else, so a backlog or a live file is committed while the analysis it triggers (far heavier per
# document) waits; analysis is rediscovered from the ledger anyway (``analysis_backlog``).
PRIORITY_INGEST = 10
PRIORITY_ANALYSIS = -10
# The heartbeat and the scheduler tick are tiny and must not wait behind a backlog (the doctor would report
# the consumer dead, and periodic jobs would not be started).
PRIORITY_OPS = 20
# What each priority is for, for people reading queue counts (tasks enqueued without one have 0).
# OCR of uploaded images and PDFs (seconds of CPU per page) comes last: dropped OCR results and their analysis
# never wait behind a scan, and an OCRed document's analysis (higher) runs before the next OCR task starts.
PRIORITY_OCR = -20
PRIORITY_NAMES = {
    PRIORITY_OPS: "ops",
    PRIORITY_INGEST: "ingest",
    0: "default",
    PRIORITY_ANALYSIS: "analysis",
    PRIORITY_OCR: "ocr",
}
_QUEUE_TABLES_LOCK = 0x6D666C71  # advisory lock key ('mflq') held while huey creates its tables


class PrivateSqliteStorage(SqliteStorage):
    """huey's SQLite storage with ``secure_delete=on`` on every connection (deleted rows zeroed on disk)."""

    def _create_connection(self) -> sqlite3.Connection:
        conn = super()._create_connection()
        conn.execute("pragma secure_delete=on")
        return conn


class PrivateSqliteHuey(SqliteHuey):
    storage_class = PrivateSqliteStorage


def build_huey(settings: Settings, immediate: bool = False) -> Huey:
    """A huey for ``settings.queue_url``; ``immediate=True`` runs tasks inline (tests, tools)."""
    url = settings.queue_url
    scheme = urlsplit(url).scheme.lower()
    common = dict(results=False, utc=True, serializer=JSONSerializer(), immediate=immediate)
    if scheme == "sqlite":
        path = sqlite_path(url)
        assert path is not None  # validated by load_settings
        create_private_file(path)
        return PrivateSqliteHuey(settings.queue_name, filename=str(path), timeout=15, **common)
    if scheme in ("redis", "rediss"):
        return PriorityRedisHuey(settings.queue_name, url=url, **common)
    if scheme in ("postgresql", "postgres"):
        database = peewee.PostgresqlDatabase(**postgres_params(url))
        # huey creates its tables when built; CREATE TABLE IF NOT EXISTS races between two consumers starting
        # together on PostgreSQL (a unique violation on pg_type), so the creation is serialised by a lock.
        with database.connection_context():
            database.execute_sql("SELECT pg_advisory_lock(%s)", (_QUEUE_TABLES_LOCK,))
            try:
                return SqlHuey(settings.queue_name, database=database, **common)
            finally:
                database.execute_sql("SELECT pg_advisory_unlock(%s)", (_QUEUE_TABLES_LOCK,))
    raise ValueError(f"unsupported queue scheme {scheme!r}")


def queue_counts(huey: Huey) -> dict[str, int]:
    """Pending and scheduled task counts (what ``mediflux status`` shows)."""
    return {"pending": huey.pending_count(), "scheduled": huey.scheduled_count()}


@dataclass(frozen=True)
class QueueCounts:
    """Tasks waiting: ready to run (pending) and waiting for their eta (scheduled).

    ``by_priority`` maps each priority with pending tasks to their count, highest first; it is None when the
    storage cannot tell (huey's in-memory storage).
    """

    pending: int
    scheduled: int
    by_priority: dict[int, int] | None


# huey's SQLite storage: its ``task`` and ``schedule`` tables (shared by read_counts and read_sqlite_file).
_SQLITE_PENDING = "SELECT priority, COUNT(id) FROM task WHERE queue = ? GROUP BY priority ORDER BY priority DESC"
_SQLITE_SCHEDULED = "SELECT COUNT(id) FROM schedule WHERE queue = ?"
Rows = Callable[[str, tuple[Any, ...]], Sequence[Sequence[Any]]]


def _sqlite_counts(rows: Rows, name: str) -> QueueCounts:
    by_priority = {int(priority): int(n) for priority, n in rows(_SQLITE_PENDING, (name,))}
    return QueueCounts(sum(by_priority.values()), int(rows(_SQLITE_SCHEDULED, (name,))[0][0]), by_priority)


def _redis_by_priority(storage: PriorityRedisStorage) -> dict[int, int]:
    """Walk the sorted set's distinct scores (huey stores -priority): one ZCOUNT per priority in use."""
    conn, key = storage.conn, storage.queue_key
    out: dict[int, int] = {}
    low: str | float = "-inf"
    while True:
        first = conn.zrangebyscore(key, low, "+inf", start=0, num=1, withscores=True)
        if not first:
            return out
        score = first[0][1]
        out[int(-score)] = int(conn.zcount(key, score, score))
        low = f"({score}"


def read_counts(huey: Huey) -> QueueCounts:
    """Pending (per priority where the storage keeps priorities) and scheduled counts of ``huey``'s queue."""
    storage = huey.storage
    if isinstance(storage, SqliteStorage):
        return _sqlite_counts(lambda sql, params: storage.sql(sql, params, results=True), storage.name)
    if isinstance(storage, SqlStorage):
        task = storage.Task
        with storage.database.connection_context():
            query = (
                storage.tasks(task.priority, peewee.fn.COUNT(task.id))
                .group_by(task.priority)
                .order_by(task.priority.desc())
                .tuples()
            )
            counts = {int(priority): int(n) for priority, n in query}
            return QueueCounts(sum(counts.values()), storage.schedule_size(), counts)
    by_priority = _redis_by_priority(storage) if isinstance(storage, PriorityRedisStorage) else None
    return QueueCounts(huey.pending_count(), huey.scheduled_count(), by_priority)


def read_sqlite_file(path: Path, name: str) -> QueueCounts:
    """The counts of a SQLite queue file opened read-only: building a huey would create its tables and chmod it."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"task", "schedule"} <= tables:
            return QueueCounts(0, 0, {})  # created, never used: huey makes its tables at first use
        return _sqlite_counts(lambda sql, params: conn.execute(sql, params).fetchall(), name)
    finally:
        conn.close()


def stored_keys(huey: Huey, limit: int = 10_000) -> list[str]:
    """Keys of huey's key/value store (results, locks, revocations), for housekeeping.

    huey has no portable "list keys" call, so each storage is asked its own way.
    """
    storage = huey.storage
    if isinstance(storage, SqliteStorage):
        rows = storage.sql("select key from kv where queue = ? limit ?", (storage.name, limit), results=True)
        return [r[0] for r in rows]
    if isinstance(storage, RedisStorage):
        keys = storage.conn.hkeys(storage.result_key)[:limit]
        return [k.decode() if isinstance(k, bytes) else k for k in keys]
    if isinstance(storage, SqlStorage):
        kv = storage.KV
        with storage.database.connection_context():
            return [r.key for r in kv.select(kv.key).where(kv.queue == storage.name).limit(limit)]
    return []
