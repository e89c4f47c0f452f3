"""Pooled databases for long-lived app processes: a sync pool (playhouse.pool) and an async one (pwasyncio).

Worker processes keep :func:`models.database.open_database` (one connection per
thread, reused for the life of the thread). An app process serves many short
requests: the sync pool hands a thread a ready connection per request, the async
pool does the same for coroutines without blocking the event loop (aiosqlite runs
SQLite in a thread per connection; asyncpg speaks PostgreSQL natively). Both get
the same SQLite pragmas as the worker (except ``synchronous=FULL`` by default, so
that a write is on disk when the call returns: :class:`PoolConfig`), the same
``BEGIN IMMEDIATE`` write transactions and the same column types, so the one set
of models serves all of them.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

import peewee
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

from models.database import BUSY_TIMEOUT_SECONDS, create_private_file, postgres_params, sqlite_path, sqlite_pragmas

SQLITE_TYPES = {"UTCDATETIME": "TEXT"}
POSTGRES_TYPES = {"UTCDATETIME": "TIMESTAMPTZ"}


@dataclass(frozen=True)
class PoolConfig:
    """Pool size, how long a caller may wait for a free connection, and when idle sync ones are recycled.

    ``durable``: on SQLite, every commit is fsynced before it returns (``synchronous=FULL``: one fdatasync of the
    WAL per write transaction); False keeps ``synchronous=NORMAL``, where a commit acknowledged to the app may roll
    back after a power loss or an OS crash (``MEDIFLUX_API_DURABLE=0``). PostgreSQL's durability is its
    ``synchronous_commit`` (``on`` by default).
    """

    size: int = 10
    acquire_timeout: float = 10.0
    recycle_seconds: int = 300
    durable: bool = True


def _sqlite_file(url: str) -> str:
    path = sqlite_path(url)
    if path is None:
        raise ValueError("an SQLite URL needs a file path (sqlite:///path/to/file.db)")
    create_private_file(path)
    return str(path)


def _scheme(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise ValueError(f"unsupported database scheme {scheme!r}")
    return "postgresql" if scheme.startswith("postgres") else "sqlite"


def open_pooled_database(url: str, pool: PoolConfig = PoolConfig()) -> peewee.Database:
    """A thread-safe pooled database for ``url`` (unbound: callers execute on it explicitly).

    ``connect()`` takes a connection from the pool (waiting up to ``acquire_timeout``),
    ``close()`` gives it back. playhouse.pool's ``timeout`` is that wait, so the SQLite
    busy timeout is set with the ``busy_timeout`` pragma instead.
    """
    wait = max(1, math.ceil(pool.acquire_timeout))
    if _scheme(url) == "sqlite":
        pragmas = sqlite_pragmas(pool.durable) + [("busy_timeout", int(BUSY_TIMEOUT_SECONDS * 1000))]
        return PooledSqliteDatabase(
            _sqlite_file(url),
            pragmas=pragmas,
            lock_type="IMMEDIATE",
            max_connections=pool.size,
            timeout=wait,
            stale_timeout=pool.recycle_seconds,
            field_types=SQLITE_TYPES,
            check_same_thread=False,
        )
    return PooledPostgresqlDatabase(
        **postgres_params(url),
        max_connections=pool.size,
        timeout=wait,
        stale_timeout=pool.recycle_seconds,
        field_types=POSTGRES_TYPES,
    )


def asyncpg_params(url: str) -> dict:
    """asyncpg keywords from a postgresql:// URL: libpq's ``options=-c k=v`` become ``server_settings``."""
    params = postgres_params(url)
    out: dict = {"database": params.pop("database")}
    timeout = params.pop("connect_timeout", None)
    if timeout is not None:
        out["timeout"] = float(timeout)
    settings: dict[str, str] = {}
    for token in shlex.split(params.pop("options", "")):
        token = token[2:] if token.startswith("-c") else token
        key, sep, value = token.partition("=")
        if sep:
            settings[key] = value
    if settings:
        out["server_settings"] = settings
    for key in ("host", "port", "user", "password"):
        if key in params:
            out[key] = params.pop(key)
    if "sslmode" in params:
        out["ssl"] = params.pop("sslmode")
    return out


def open_async_database(url: str, pool: PoolConfig = PoolConfig()) -> peewee.Database:
    """A pooled asyncio database for ``url`` (pwasyncio: aiosqlite or asyncpg); close with ``close_pool()``."""
    from playhouse.pwasyncio import AsyncPostgresqlDatabase, AsyncSqliteDatabase

    common = dict(pool_size=pool.size, acquire_timeout=pool.acquire_timeout)
    if _scheme(url) == "sqlite":
        # lock_type makes every transaction BEGIN IMMEDIATE, as in the worker: no lock-upgrade deadlocks.
        return AsyncSqliteDatabase(
            _sqlite_file(url),
            pragmas=sqlite_pragmas(pool.durable),
            timeout=BUSY_TIMEOUT_SECONDS,
            lock_type="IMMEDIATE",
            field_types=SQLITE_TYPES,
            **common,
        )
    params = asyncpg_params(url)
    return AsyncPostgresqlDatabase(
        params.pop("database"), field_types=POSTGRES_TYPES, pool_min_size=1, **common, **params
    )
