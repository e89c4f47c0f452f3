"""What every data-API function runs against: a database handle (sync pool or async pool) and the limits.

The functions in :mod:`worker.appdata.profiles` and :mod:`worker.appdata.records`
execute every query explicitly on ``backend.database``, so the same code runs on
a pooled sync database in a thread and, through pwasyncio's greenlet bridge, on
a pooled async one in a coroutine. JSON values are written as SQL expressions
(``json(?)`` on SQLite, ``CAST(%s AS jsonb)`` on PostgreSQL) rather than through
the driver-specific JSON adapters, which differ between psycopg2 and asyncpg.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import peewee

from models import User, db, is_postgres
from models.database import open_database
from worker.appdata.errors import UnknownUser

M = TypeVar("M", bound=peewee.Model)


@dataclass(frozen=True)
class Backend:
    database: peewee.Database
    max_json_bytes: int = 64 * 1024

    @property
    def postgres(self) -> bool:
        return is_postgres(self.database)

    def json(self, encoded: str) -> peewee.Node:
        """A JSON value (already validated and encoded) as the SQL expression that stores it."""
        literal = peewee.Value(encoded, converter=False)
        if self.postgres:
            return peewee.Cast(literal, "jsonb")
        return peewee.fn.json(literal)

    def rows(self, query: peewee.Query) -> list[Any]:
        return list(query.execute(self.database))

    def first(self, query: peewee.SelectQuery) -> Any:
        found = self.rows(query.limit(1))
        return found[0] if found else None

    def locked(self, query: peewee.ModelSelect[M], mode: str = "FOR UPDATE") -> peewee.ModelSelect[M]:
        """A row lock on PostgreSQL; SQLite needs none (``BEGIN IMMEDIATE`` already serialises writers).

        ``FOR UPDATE`` to read-modify-write a row; ``FOR KEY SHARE`` on a parent row a
        child is about to reference, so a concurrent erasure waits instead of the insert
        failing on its foreign key.
        """
        # peewee takes the lock clause as a string too (its stubs only say bool).
        return query.for_update(mode) if self.postgres else query  # type: ignore[arg-type]


def user_pk(backend: Backend, user_id: str, lock: str | None = None) -> User:
    """The user row (id and profile) for ``user_id``, optionally locked (``lock`` mode), or :class:`UnknownUser`."""
    query = User.select(User.id, User.user_id, User.profile, User.created_at, User.updated_at).where(
        User.user_id == user_id
    )
    row = backend.first(backend.locked(query, lock) if lock else query)
    if row is None:
        raise UnknownUser(user_id)
    return row


def ensure_models_bound(url: str) -> None:
    """Make sure the model proxy points at this URL's backend kind (it decides dialect details such as JSON paths).

    A process that bootstrapped (``worker.runtime.bootstrap``) already has it; an app
    that only opened the API gets a plain database bound for that purpose.
    """
    wanted = url.lower().startswith("postgres")
    if db.obj is None or is_postgres(db.obj) != wanted:
        open_database(url)
