"""Database factory: a URL in, a configured peewee database bound to the models out.

SQLite gets the pragmas this workload needs (WAL, synchronous=NORMAL, a busy
timeout, foreign keys, incremental auto-vacuum set at creation) and write
transactions that ``BEGIN IMMEDIATE`` so two writers never deadlock on a lock
upgrade. PostgreSQL gets JSONB and TIMESTAMPTZ columns from the same models.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import peewee

from models.base import db
from models.private import private_dir

SQLITE_PRAGMAS: tuple[tuple[str, object], ...] = (
    ("auto_vacuum", "incremental"),  # only takes effect on a new (empty) file: set before any table
    ("journal_mode", "wal"),
    ("synchronous", "normal"),
    ("foreign_keys", 1),
    ("cache_size", -16000),
    ("temp_store", "memory"),
    # Health data: deleted and overwritten content is zeroed, not left in free space (erasure and
    # retention rely on it; cost: freed overflow pages are written once more — see docs/retention.md).
    ("secure_delete", "on"),
)
BUSY_TIMEOUT_SECONDS = 15.0


def sqlite_pragmas(durable: bool = False) -> list[tuple[str, object]]:
    """:data:`SQLITE_PRAGMAS`, with ``synchronous=full`` when every commit must be on disk when it returns.

    The worker's own connections keep NORMAL (their state can be rebuilt, and ingestion makes its own commits
    durable: :mod:`models.durability`); the app's pools use FULL (:class:`models.pools.PoolConfig`), since a
    profile, decision or pathway the app was told is saved has no other copy.
    """
    level = "full" if durable else "normal"
    return [(name, level if name == "synchronous" else value) for name, value in SQLITE_PRAGMAS]


def create_private_file(path: Path) -> None:
    """Create ``path`` (and its missing folders, 0700) as an empty 0600 file if missing; tighten if present."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    except FileExistsError:
        # Never open (and so close) an existing database file: closing any descriptor of a file drops
        # every POSIX lock this process holds on it, including SQLite's, and open connections then corrupt reads.
        pass
    else:
        os.close(fd)
    os.chmod(path, 0o600)


def sqlite_path(url: str) -> Path | None:
    """File of an ``sqlite:///path`` URL; None for other schemes or in-memory URLs."""
    if not url.lower().startswith("sqlite:"):
        return None
    rest = url[len("sqlite:") :]
    path = rest[3:] if rest.startswith("///") else rest.lstrip("/")
    path = unquote(path.split("?", 1)[0])
    if not path or path == ":memory:":
        return None
    return Path(path)


def open_database(url: str, bind: bool = True) -> peewee.Database:
    """Open the database named by ``url`` (sqlite:///… or postgresql://…) and bind the models.

    With ``bind=False`` the database is returned unbound (tools that copy between
    two databases use that).
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        path = sqlite_path(url)
        if path is None:
            raise ValueError("an SQLite URL needs a file path (sqlite:///path/to/file.db)")
        create_private_file(path)
        database: peewee.Database = peewee.SqliteDatabase(
            str(path),
            pragmas=list(SQLITE_PRAGMAS),
            timeout=BUSY_TIMEOUT_SECONDS,
            lock_type="IMMEDIATE",
            field_types={"UTCDATETIME": "TEXT"},
        )
    elif scheme in ("postgresql", "postgres"):
        database = peewee.PostgresqlDatabase(**postgres_params(url), field_types={"UTCDATETIME": "TIMESTAMPTZ"})
    else:
        raise ValueError(f"unsupported database scheme {scheme!r}")
    if bind:
        db.initialize(database)
    return database


def postgres_params(url: str) -> dict:
    """Connection keywords for psycopg2 from a postgresql:// URL (query string passed through)."""
    parts = urlsplit(url)
    params: dict = {"database": unquote(parts.path.lstrip("/")) or "postgres"}
    if parts.hostname:
        params["host"] = parts.hostname
    if parts.port:
        params["port"] = parts.port
    if parts.username:
        params["user"] = unquote(parts.username)
    if parts.password:
        params["password"] = unquote(parts.password)
    params.update(dict(parse_qsl(parts.query)))
    params.setdefault("connect_timeout", 10)
    return params
