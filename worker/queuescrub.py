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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from huey import Huey
from huey.contrib.sql_huey import SqlStorage
from huey.storage import PriorityRedisStorage, RedisStorage, SqliteStorage

log = logging.getLogger("mediflux.retention.queue")


def names_user(user_id: str, keys: Iterable[str] = ()) -> Callable[[Any], bool]:
    """A predicate: does a JSON value carry ``user_id`` (as a value, or as a folder of a path) or one of
    ``keys`` (opaque keys of the user's inbox files, :mod:`worker.ingest.tokens`)?"""
    folder = os.sep + user_id + os.sep
    exact = {user_id, *keys}

    def carries(value: Any) -> bool:
        if isinstance(value, str):
            return value in exact or folder in value
        if isinstance(value, dict):
            return any(carries(k) or carries(v) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return any(carries(v) for v in value)
        return False

    return carries


@dataclass(frozen=True)
class Waiting:
    """A task waiting in the queue: ``where`` is ``pending`` or ``scheduled``; ``handle`` finds it again."""

    where: str
    name: str
    args: Any  # [args, kwargs] as the message holds them
    handle: Any


def _message(huey: Huey, where: str, data: bytes, handle: Any) -> Waiting | None:
    try:
        message = huey.serializer.deserialize(data)
    except Exception:  # noqa: BLE001 — not ours to judge; a message we cannot read is left alone
        return None
    return Waiting(where, str(message.name), [message.args, message.kwargs], handle)


def waiting(huey: Huey) -> Iterator[Waiting]:
    """Every pending and scheduled task of ``huey``'s queue (SQLite, PostgreSQL, Redis; none for others)."""
    storage = huey.storage
    found: Iterable[tuple[str, bytes, Any]] = ()
    if isinstance(storage, SqliteStorage):
        found = [
            (where, bytes(data), (table, row_id))
            for where, table in (("pending", "task"), ("scheduled", "schedule"))
            for row_id, data in storage.sql(
                f"select id, data from {table} where queue = ?", (storage.name,), results=True
            )
        ]
    elif isinstance(storage, SqlStorage):
        with storage.database.connection_context():
            found = [
                (where, bytes(data), (model, row_id))
                for where, model in (("pending", storage.Task), ("scheduled", storage.Schedule))
                for row_id, data in model.select(model.id, model.data).where(model.queue == storage.name).tuples()
            ]
    elif isinstance(storage, RedisStorage):
        conn = storage.conn
        if isinstance(storage, PriorityRedisStorage):  # members: an 8-byte ordering prefix + the message
            pending = [(m[8:], ("zset", storage.queue_key, m)) for m in conn.zrange(storage.queue_key, 0, -1)]
        else:
            pending = [(m, ("list", storage.queue_key, m)) for m in conn.lrange(storage.queue_key, 0, -1)]
        scheduled = [(m, ("zset", storage.schedule_key, m)) for m in conn.zrange(storage.schedule_key, 0, -1)]
        found = [("pending", d, h) for d, h in pending] + [("scheduled", d, h) for d, h in scheduled]
    for where, data, handle in found:
        item = _message(huey, where, data, handle)
        if item is not None:
            yield item


def concerning(huey: Huey, user_id: str, keys: Iterable[str] = ()) -> list[Waiting]:
    """The waiting tasks whose arguments name ``user_id`` or one of ``keys`` (export lists them)."""
    carries = names_user(user_id, keys)
    return [item for item in waiting(huey) if carries(item.args)]


def _remove(huey: Huey, item: Waiting) -> int:
    storage = huey.storage
    if isinstance(storage, SqliteStorage):
        table, row_id = item.handle
        storage.sql(f"delete from {table} where id = ?", (row_id,), commit=True)
        return 1
    if isinstance(storage, SqlStorage):
        model, row_id = item.handle
        with storage.database.connection_context():
            return int(model.delete().where(model.id == row_id).execute())
    kind, key, member = item.handle
    conn = huey.storage.conn
    return int(conn.zrem(key, member) if kind == "zset" else conn.lrem(key, 0, member))


def purge_tasks(huey: Huey, user_id: str, keys: Iterable[str] = ()) -> int:
    """Remove pending and scheduled tasks whose arguments name ``user_id`` or one of ``keys``; how many.

    A task taken by a consumer meanwhile is simply not counted (huey deleted it when dequeuing).
    """
    return sum(_remove(huey, item) for item in concerning(huey, user_id, keys))


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
