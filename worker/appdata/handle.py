"""What the sync and async data APIs share (:mod:`worker.api`): the pool settings, the backend and write queue
handle, and the BDPM look-ups they expose."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

import peewee

from models.pools import PoolConfig
from worker.access.trail import AccessTrail
from worker.appdata import documents, profiles, records, traced
from worker.appdata.backend import Backend, ensure_models_bound
from worker.appdata.errors import InvalidInput
from worker.bdpm import lookup as bdpm_lookup
from worker.bdpm import store as bdpm_store
from worker.config import Settings

T = TypeVar("T")
H = TypeVar("H", bound="Handle")
Criteria = str | None


# Functions that write. On SQLite (one writer at a time per file) a process queues its own writers on a lock
# instead of letting them poll SQLite's busy handler, whose sleeps (up to 100 ms each) make the tail latency of
# concurrent inserts many times worse (docs/benchmarks.md); readers never wait on it.
_WRITES = frozenset(
    {
        profiles.create_profile,
        profiles.update_profile,
        records.log_query,
        records.store_pathway,
        records.record_decision,
        documents.submit_document,
        documents.record,
    }
)


def pool_config(settings: Settings) -> PoolConfig:
    """The connection pool of the app's API, from MEDIFLUX_DB_POOL_* and MEDIFLUX_API_DURABLE."""
    return PoolConfig(
        size=settings.db_pool_size,
        acquire_timeout=settings.db_pool_timeout,
        recycle_seconds=settings.db_pool_recycle,
        durable=settings.api_durable,
    )


class Handle:
    """What both variants share: the backend, on SQLite the lock writers queue on, and the access trail.

    ``trail=None`` reads without leaving traces: only for benchmarks and tests that build the API on a bare
    backend; :meth:`from_settings` (and so :func:`open_api`) always records.
    """

    open_database: Callable[[str, PoolConfig], peewee.Database]
    new_lock: Callable[[], Any]
    shares_lock_with_trail: bool

    def __init__(self, backend: Backend, settings: Settings | None = None, trail: AccessTrail | None = None) -> None:
        self.backend = backend
        self.settings = settings  # the inbox and file limits of submit_document
        self._write_lock = None if backend.postgres else self.new_lock()
        self.trail = trail

    @classmethod
    def from_settings(cls: type[H], settings: Settings, *, actor: str | None = None, purpose: str | None = None) -> H:
        """On an already migrated database (see :func:`open_api` / :func:`open_async_api`).

        ``actor``/``purpose``: this API object's defaults for the access log (else the settings').
        """
        ensure_models_bound(settings.database_url)
        database = cls.open_database(settings.database_url, pool_config(settings))
        handle = cls(Backend(database, settings.api_max_json_kb * 1024), settings)
        handle.trail = traced.open_trail(
            settings, actor, purpose, handle._write_lock if cls.shares_lock_with_trail else None
        )
        return handle

    def _inbox(self) -> tuple[Any, int]:
        if self.settings is None:
            raise RuntimeError("submit_document needs the settings: open the API with open_api()/from_settings()")
        return self.settings.inbox, self.settings.max_file_mb * 1024 * 1024

    def _queue(self, fn: Callable[..., Any]) -> Any:
        return self._write_lock if fn in _WRITES and self._write_lock is not None else contextlib.nullcontext()


def lookup_medicine(backend: Backend, code: str) -> dict[str, Any] | None:
    """The medicine of a CIS, CIP13 or CIP7 code from the local BDPM mirror, or None."""
    return bdpm_store.get_medicine(backend.database, code)


def search_medicines(backend: Backend, text: str, limit: int) -> list[dict[str, Any]]:
    """Specialities matching a prescription line, best first (input checked here, once for both variants)."""
    if not isinstance(text, str) or len(text) > 500:
        raise InvalidInput("text", "a prescription line of at most 500 characters")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100:
        raise InvalidInput("limit", "a whole number from 1 to 100")
    return bdpm_lookup.search(backend.database, text, limit)
