"""Durable commits: a transaction that is on stable storage when its ``with`` block returns.

Ingestion deletes an inbox file right after storing it, so its commit must survive a power cut: otherwise the
cut can keep the unlink and lose the row, and the document is gone from both places.

- SQLite runs WAL with ``synchronous=NORMAL`` (:data:`models.database.SQLITE_PRAGMAS`): a commit appends to the WAL
  without an fsync, and SQLite documents that such a commit may roll back after a power loss or an OS crash.
  :func:`durable_atomic` sets ``synchronous=FULL`` on its own connection just before ``BEGIN`` and restores the
  previous level right after ``COMMIT``: in WAL mode FULL syncs the WAL at every commit, before the write lock is
  released, so the returning ``with`` means the transaction (and every frame before it) is on disk. One fdatasync
  per transaction, only on the connection that needs it; other connections of the process keep NORMAL. (Syncing
  the WAL file from a descriptor of our own after the commit would also work, but closing any descriptor of a
  SQLite file drops this process's POSIX locks on it; and SQLite may have reset the WAL meanwhile.)
  SQLite refuses to change the level inside a transaction, so it is set before ``BEGIN``; inside an outer
  transaction the block only joins it and the outer commit decides.
- PostgreSQL flushes its WAL at commit when ``synchronous_commit`` is ``on`` (the default), ``remote_write`` or
  ``remote_apply``. ``off`` returns before the flush (a crash loses the last commits); ``local`` waits for the local
  flush only, so a failover to a synchronous standby can lose a commit the primary acknowledged: both are refused
  with :class:`CommitNotDurable`. The setting is read once per connection (``SHOW synchronous_commit``; it comes from
  the server, the role, the database or the URL's ``options``, none of which change under an open connection).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import peewee

AnyDatabase = peewee.Database | peewee.DatabaseProxy
_SQLITE_FULL = 2
DURABLE_PG_COMMITS = frozenset({"on", "remote_write", "remote_apply"})
_PG_SETTING: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()  # raw connection -> setting


class CommitNotDurable(Exception):
    """The database would acknowledge a commit before it is on stable storage (one-line message, no data)."""

    def __init__(self, setting: str) -> None:
        self.setting = setting
        super().__init__(
            f"PostgreSQL synchronous_commit={setting}: commits are not durable when acknowledged; "
            "ingestion needs on, remote_write or remote_apply"
        )


def _is_sqlite(database: AnyDatabase) -> bool:
    target = getattr(database, "obj", database)  # a DatabaseProxy or a database
    return isinstance(target, peewee.SqliteDatabase)


def pg_synchronous_commit(database: AnyDatabase) -> str:
    """This connection's ``synchronous_commit`` (read once per connection)."""
    conn = database.connection()
    setting = _PG_SETTING.get(conn)
    if setting is None:
        row = database.execute_sql("SHOW synchronous_commit").fetchone()
        setting = _PG_SETTING[conn] = str(row[0]).lower()
    return setting


def check_durable(database: AnyDatabase) -> None:
    """Raise :class:`CommitNotDurable` when a commit on this PostgreSQL connection would not be durable."""
    if _is_sqlite(database):
        return
    setting = pg_synchronous_commit(database)
    if setting not in DURABLE_PG_COMMITS:
        raise CommitNotDurable(setting)


@contextmanager
def durable_atomic(database: AnyDatabase) -> Iterator[None]:
    """``database.atomic()`` whose commit is on stable storage when the block returns (see module doc)."""
    if not _is_sqlite(database):
        check_durable(database)
        with database.atomic():
            yield
        return
    if database.in_transaction():
        with database.atomic():
            yield
        return
    previous = int(database.execute_sql("PRAGMA synchronous").fetchone()[0])
    if previous >= _SQLITE_FULL:  # FULL or EXTRA already: every commit is synced
        with database.atomic():
            yield
        return
    database.execute_sql(f"PRAGMA synchronous={_SQLITE_FULL}")
    try:
        with database.atomic():
            yield
    finally:
        if not database.is_closed() and not database.in_transaction():
            database.execute_sql(f"PRAGMA synchronous={previous}")
