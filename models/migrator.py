"""Automatic schema migrations: peewee's ``playhouse.migrations`` runner plus a lock.

The runner applies numbered files in ``models/migrations/`` and records them in
``schema_migration``, but it has no lock: two processes starting together on the
same database would both apply a migration. Every call here holds a
cross-process lock (an ``flock`` beside the SQLite file; a PostgreSQL advisory
lock) and re-reads the applied set under it, so each migration runs exactly once.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import peewee
from playhouse.migrations import Migration, MigrationError, Runner

from models.base import is_postgres

log = logging.getLogger("mediflux.migrations")
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
HISTORY_TABLE = "schema_migration"
_PG_LOCK_KEY = 0x6D656469  # "medi": one advisory lock for schema changes


def _naive_utcnow() -> _dt.datetime:
    # peewee's history table is a plain DateTimeField: store naive UTC, never local time.
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)


def make_runner(database: peewee.Database) -> Runner:
    runner = Runner(database, str(MIGRATIONS_DIR), table_name=HISTORY_TABLE)
    runner.History.applied.default = _naive_utcnow
    return runner


@contextlib.contextmanager
def migration_lock(database: peewee.Database) -> Iterator[None]:
    """Hold the schema lock for the duration: flock on SQLite, advisory lock on PostgreSQL."""
    if is_postgres(database):
        database.execute_sql("SELECT pg_advisory_lock(%s)", (_PG_LOCK_KEY,))
        try:
            yield
        finally:
            database.execute_sql("SELECT pg_advisory_unlock(%s)", (_PG_LOCK_KEY,))
        return
    lock_path = Path(str(database.database) + ".migrate.lock")
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def status(database: peewee.Database) -> list[Migration]:
    """Every migration file and history row, in order; ``applied`` is None when pending."""
    return make_runner(database).status()


def pending(database: peewee.Database) -> list[str]:
    return [m.name for m in status(database) if m.applied is None and m.path is not None]


def upgrade(database: peewee.Database, target: str | None = None) -> list[str]:
    """Apply pending migrations (up to ``target``) exactly once across processes."""
    with database.connection_context(), migration_lock(database):
        applied = make_runner(database).up(target)
    for name in applied:
        log.info("migration applied: %s", name)
    return applied


def downgrade(database: peewee.Database, target: str | None = None) -> list[str]:
    """Revert the latest migration, or every one back through ``target``."""
    with database.connection_context(), migration_lock(database):
        reverted = make_runner(database).down(target)
    for name in reverted:
        log.info("migration reverted: %s", name)
    return reverted


__all__ = ["MigrationError", "downgrade", "migration_lock", "pending", "status", "upgrade"]
