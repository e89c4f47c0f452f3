"""The huey instance, built from ``MEDIFLUX_QUEUE_URL``: SQLite (default), Redis or PostgreSQL.

Messages are JSON (:mod:`worker.serializer`); result storage is off (tasks that
need an answer write it to the database, the ledger); times are UTC. Every
backend honours task priorities (:data:`PRIORITY_INGEST`, :data:`PRIORITY_ANALYSIS`):
SQLite and PostgreSQL natively, Redis through huey's sorted-set queue
(``PriorityRedisHuey``, Redis ≥ 5).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import peewee
from huey import Huey, PriorityRedisHuey, SqliteHuey
from huey.contrib.sql_huey import SqlHuey, SqlStorage
from huey.storage import RedisStorage, SqliteStorage

from models.database import create_private_file, postgres_params, sqlite_path
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


def build_huey(settings: Settings, immediate: bool = False) -> Huey:
    """A huey for ``settings.queue_url``; ``immediate=True`` runs tasks inline (tests, tools)."""
    url = settings.queue_url
    scheme = urlsplit(url).scheme.lower()
    common = dict(results=False, utc=True, serializer=JSONSerializer(), immediate=immediate)
    if scheme == "sqlite":
        path = sqlite_path(url)
        assert path is not None  # validated by load_settings
        create_private_file(path)
        return SqliteHuey(settings.queue_name, filename=str(path), timeout=15, **common)
    if scheme in ("redis", "rediss"):
        return PriorityRedisHuey(settings.queue_name, url=url, **common)
    if scheme in ("postgresql", "postgres"):
        database = peewee.PostgresqlDatabase(**postgres_params(url))
        return SqlHuey(settings.queue_name, database=database, **common)
    raise ValueError(f"unsupported queue scheme {scheme!r}")


def queue_counts(huey: Huey) -> dict[str, int]:
    """Pending and scheduled task counts (what ``mediflux status`` shows)."""
    return {"pending": huey.pending_count(), "scheduled": huey.scheduled_count()}


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
