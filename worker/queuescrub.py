"""What an erasure does to the queue: drop waiting tasks that concern the user, then flush the queue file.

Task arguments are ids and opaque keys (:mod:`worker.triggers`), but tasks enqueued by an older version, or a
cache refresh whose params carry the id, may still name the user. :func:`purge_tasks` removes pending and
scheduled tasks whose arguments carry the id (or a path inside the user's folders) on each storage the worker
builds (SQLite, Redis, PostgreSQL). :func:`flush` then truncates the SQLite queue's WAL: the queue's connections
run with ``secure_delete=on`` (:mod:`worker.queue`), so deleted task rows are zeroed in the file and, once
checkpointed, gone from the WAL too. PostgreSQL keeps dead tuples until VACUUM and Redis rewrites its AOF/RDB on
its own schedule (docs/privacy.md says what the operator runs).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from huey import Huey
from huey.contrib.sql_huey import SqlStorage
from huey.storage import PriorityRedisStorage, RedisStorage, SqliteStorage

log = logging.getLogger("mediflux.retention.queue")
Matches = Callable[[str, Any], bool]  # (task name, (args, kwargs)) -> concerns the user


def names_user(user_id: str) -> Callable[[Any], bool]:
    """A predicate: does a JSON value carry ``user_id`` (as a value, or as a folder of a path)?"""
    folder = os.sep + user_id + os.sep

    def carries(value: Any) -> bool:
        if isinstance(value, str):
            return value == user_id or folder in value
        if isinstance(value, dict):
            return any(carries(k) or carries(v) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return any(carries(v) for v in value)
        return False

    return carries


def _concerns(huey: Huey, data: bytes, carries: Callable[[Any], bool]) -> bool:
    try:
        message = huey.serializer.deserialize(data)
    except Exception:  # noqa: BLE001 — not ours to judge; a message we cannot read is left alone
        return False
    return carries([message.args, message.kwargs])


def purge_tasks(huey: Huey, user_id: str) -> int:
    """Remove pending and scheduled tasks whose arguments name ``user_id``; returns how many."""
    carries = names_user(user_id)
    storage = huey.storage
    if isinstance(storage, SqliteStorage):
        return _purge_sqlite(huey, storage, carries)
    if isinstance(storage, SqlStorage):
        return _purge_sql(huey, storage, carries)
    if isinstance(storage, RedisStorage):
        return _purge_redis(huey, storage, carries)
    return 0


def _purge_sqlite(huey: Huey, storage: SqliteStorage, carries: Callable[[Any], bool]) -> int:
    removed = 0
    for table in ("task", "schedule"):
        rows = storage.sql(f"select id, data from {table} where queue = ?", (storage.name,), results=True)
        ids = [row_id for row_id, data in rows if _concerns(huey, bytes(data), carries)]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            storage.sql(f"delete from {table} where id in ({marks})", chunk, commit=True)
        removed += len(ids)
    return removed


def _purge_sql(huey: Huey, storage: SqlStorage, carries: Callable[[Any], bool]) -> int:
    removed = 0
    with storage.database.connection_context():
        for model in (storage.Task, storage.Schedule):
            rows = model.select(model.id, model.data).where(model.queue == storage.name).tuples()
            ids = [row_id for row_id, data in rows if _concerns(huey, bytes(data), carries)]
            for start in range(0, len(ids), 500):
                model.delete().where(model.id.in_(ids[start : start + 500])).execute()
            removed += len(ids)
    return removed


def _purge_redis(huey: Huey, storage: RedisStorage, carries: Callable[[Any], bool]) -> int:
    conn, removed = storage.conn, 0
    if isinstance(storage, PriorityRedisStorage):
        # Members are an 8-byte ordering prefix + the message.
        for member in conn.zrange(storage.queue_key, 0, -1):
            if _concerns(huey, member[8:], carries):
                removed += int(conn.zrem(storage.queue_key, member))
    else:
        for member in conn.lrange(storage.queue_key, 0, -1):
            if _concerns(huey, member, carries):
                removed += int(conn.lrem(storage.queue_key, 0, member))
    for member in conn.zrange(storage.schedule_key, 0, -1):
        if _concerns(huey, member, carries):
            removed += int(conn.zrem(storage.schedule_key, member))
    return removed


def flush(huey: Huey) -> bool:
    """Truncate the SQLite queue's WAL (False when a reader blocked it: retried by the erasure's next pass).

    Other storages have no file of ours to flush: True.
    """
    storage = huey.storage
    if not isinstance(storage, SqliteStorage):
        return True
    rows = storage.sql("pragma wal_checkpoint(TRUNCATE)", results=True)
    busy = bool(rows and rows[0][0])
    if busy:
        log.warning("queue WAL checkpoint blocked by a reader; retried at the next erasure pass")
    return not busy
