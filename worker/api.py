"""The app's data API: profiles, sessions, care pathways, documents — sync and async, on pooled connections.

The app never writes SQL nor knows which database is underneath. Open once at
start, share the object, close at shutdown::

    api = open_async_api()                  # bootstrap (settings, migrations) + async pool
    profile = await api.get_profile("u-42")
    await api.close()

Every method validates its input first and raises a typed
:class:`worker.appdata.errors.DataError` (bad shape, unknown user, payload too
large) before anything is written; each write is one transaction. Results are
frozen dataclasses (:mod:`worker.appdata.views`). Work the app enqueues goes
through the task functions (``tasks.ingest.ingest_files`` …; docs/app-api.md).

Reads take ``actor`` and ``purpose`` (keywords; defaults from the constructor, else
``MEDIFLUX_ACCESS_ACTOR`` / ``MEDIFLUX_ACCESS_PURPOSE``, else ``app`` / ``service``) and
leave a trace in the access log (:mod:`worker.access`): who, why, what kind, the user's key.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import peewee

from models.pools import PoolConfig, open_async_database, open_pooled_database
from worker.access.trail import AccessTrail
from worker.appdata import profiles, records, traced
from worker.appdata.backend import Backend, ensure_models_bound
from worker.appdata.errors import (
    DataError,
    InvalidInput,
    InvalidProfile,
    PayloadTooLarge,
    UnknownPathway,
    UnknownStep,
    UnknownUser,
    UserExists,
)
from worker.appdata.views import Decision, DocumentSummary, Pathway, Profile, QueryRecord, as_json
from worker.config import Settings
from worker.runtime import bootstrap

T = TypeVar("T")
H = TypeVar("H", bound="_Handle")
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
    }
)


def pool_config(settings: Settings) -> PoolConfig:
    return PoolConfig(
        size=settings.db_pool_size,
        acquire_timeout=settings.db_pool_timeout,
        recycle_seconds=settings.db_pool_recycle,
        durable=settings.api_durable,
    )


class _Handle:
    """What both variants share: the backend, on SQLite the lock writers queue on, and the access trail.

    ``trail=None`` reads without leaving traces: only for benchmarks and tests that build the API on a bare
    backend; :meth:`from_settings` (and so :func:`open_api`) always records.
    """

    open_database: Callable[[str, PoolConfig], peewee.Database]
    new_lock: Callable[[], Any]
    shares_lock_with_trail: bool

    def __init__(self, backend: Backend, trail: AccessTrail | None = None) -> None:
        self.backend = backend
        self._write_lock = None if backend.postgres else self.new_lock()
        self.trail = trail

    @classmethod
    def from_settings(cls: type[H], settings: Settings, *, actor: str | None = None, purpose: str | None = None) -> H:
        """On an already migrated database (see :func:`open_api` / :func:`open_async_api`).

        ``actor``/``purpose``: this API object's defaults for the access log (else the settings').
        """
        ensure_models_bound(settings.database_url)
        database = cls.open_database(settings.database_url, pool_config(settings))
        handle = cls(Backend(database, settings.api_max_json_kb * 1024))
        handle.trail = traced.open_trail(
            settings, actor, purpose, handle._write_lock if cls.shares_lock_with_trail else None
        )
        return handle

    def _queue(self, fn: Callable[..., Any]) -> Any:
        return self._write_lock if fn in _WRITES and self._write_lock is not None else contextlib.nullcontext()


class DataAPI(_Handle):
    """Sync variant (threads: WSGI servers, scripts). Each call borrows a pooled connection and returns it."""

    open_database = staticmethod(open_pooled_database)
    new_lock = staticmethod(threading.Lock)
    shares_lock_with_trail = True  # the trail's flush thread queues on the same threading lock

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        database = self.backend.database
        with self._queue(fn):  # queued writers hold no pooled connection while they wait
            borrowed = database.is_closed()
            if borrowed:
                database.connect()
            try:
                return fn(self.backend, *args, **kwargs)
            finally:
                if borrowed and not database.in_transaction():
                    database.close()

    def _read(self, fn: Callable[..., T], who: tuple[str | None, str | None], *args: Any, **kwargs: Any) -> T:
        checked = traced.checked(self.trail, *who)
        result = self._call(fn, *args, **kwargs)
        if traced.trace(self.trail, fn, args, result, checked):
            self.trail.flush()  # type: ignore[union-attr]  # _trace is True only with a trail
        return result

    def close(self) -> None:
        """Write the waiting access traces, then close every pooled connection (at shutdown)."""
        if self.trail is not None:
            self.trail.close()
        self.backend.database.close_all()  # type: ignore[attr-defined]  # playhouse.pool's, untyped

    def create_profile(self, user_id: str, profile: dict[str, Any] | None = None) -> Profile:
        return self._call(profiles.create_profile, user_id, profile)

    def update_profile(
        self, user_id: str, patch: dict[str, Any], *, actor: str | None = None, purpose: str | None = None
    ) -> Profile:
        return self._read(profiles.update_profile, (actor, purpose), user_id, patch)

    def get_profile(self, user_id: str, *, actor: str | None = None, purpose: str | None = None) -> Profile:
        return self._read(profiles.get_profile, (actor, purpose), user_id)

    def find_users(
        self,
        *,
        mutuelle: Criteria = None,
        pathology: Criteria = None,
        department: Criteria = None,
        postcode: Criteria = None,
        limit: int = 100,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> list[Profile]:
        return self._read(
            profiles.find_users,
            (actor, purpose),
            mutuelle=mutuelle,
            pathology=pathology,
            department=department,
            postcode=postcode,
            limit=limit,
        )

    def log_query(self, user_id: str, text: str, intent: str | None = None, result: Any = None) -> QueryRecord:
        return self._call(records.log_query, user_id, text, intent, result)

    def recent_queries(
        self,
        user_id: str,
        limit: int = 20,
        since: _dt.datetime | None = None,
        *,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> list[QueryRecord]:
        return self._read(records.recent_queries, (actor, purpose), user_id, limit, since)

    def count_by_intent(self, start: _dt.datetime, end: _dt.datetime) -> dict[str | None, int]:
        return self._call(records.count_by_intent, start, end)

    def store_pathway(self, user_id: str, condition: str, pathway: dict[str, Any]) -> Pathway:
        return self._call(records.store_pathway, user_id, condition, pathway)

    def record_decision(self, user_id: str, pathway_id: int, step: str, decision: dict[str, Any]) -> Decision:
        return self._call(records.record_decision, user_id, pathway_id, step, decision)

    def get_pathway(
        self, user_id: str, pathway_id: int, *, actor: str | None = None, purpose: str | None = None
    ) -> Pathway:
        return self._read(records.get_pathway, (actor, purpose), user_id, pathway_id)

    def list_pathways(
        self,
        user_id: str,
        condition: str | None = None,
        limit: int = 20,
        *,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> list[Pathway]:
        return self._read(records.list_pathways, (actor, purpose), user_id, condition, limit)

    def list_documents(
        self,
        user_id: str,
        document_type: str | None = None,
        limit: int = 50,
        *,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> list[DocumentSummary]:
        return self._read(records.list_documents, (actor, purpose), user_id, document_type, limit)


class AsyncDataAPI(_Handle):
    """Async variant (asyncio web backends): the same functions on a pwasyncio pool, never blocking the loop.

    A call borrows a pooled connection for its own duration only, so a request that
    awaits other things between calls does not hold a connection meanwhile.
    """

    open_database = staticmethod(open_async_database)
    new_lock = staticmethod(asyncio.Lock)
    shares_lock_with_trail = False  # an asyncio lock cannot be taken from the trail's thread

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # run/aclose/close_pool are pwasyncio's: playhouse is untyped, so the type checker only sees peewee.Database.
        database = self.backend.database
        borrowed = database.is_closed()
        try:
            async with self._queue(fn):
                return await database.run(fn, self.backend, *args, **kwargs)  # type: ignore[attr-defined]
        finally:
            if borrowed and not database.in_transaction():
                await database.aclose()  # type: ignore[attr-defined]

    async def _read(self, fn: Callable[..., T], who: tuple[str | None, str | None], *args: Any, **kwargs: Any) -> T:
        checked = traced.checked(self.trail, *who)
        result = await self._call(fn, *args, **kwargs)
        if traced.trace(self.trail, fn, args, result, checked):
            await asyncio.to_thread(self.trail.flush)  # type: ignore[union-attr]  # never blocks the loop
        return result

    async def close(self) -> None:
        """Write the waiting access traces, then close the pool (at shutdown)."""
        if self.trail is not None:
            await asyncio.to_thread(self.trail.close)
        await self.backend.database.close_pool()  # type: ignore[attr-defined]  # pwasyncio's, untyped

    async def create_profile(self, user_id: str, profile: dict[str, Any] | None = None) -> Profile:
        return await self._call(profiles.create_profile, user_id, profile)

    async def update_profile(
        self, user_id: str, patch: dict[str, Any], *, actor: str | None = None, purpose: str | None = None
    ) -> Profile:
        return await self._read(profiles.update_profile, (actor, purpose), user_id, patch)

    async def get_profile(self, user_id: str, *, actor: str | None = None, purpose: str | None = None) -> Profile:
        return await self._read(profiles.get_profile, (actor, purpose), user_id)

    async def find_users(
        self,
        *,
        mutuelle: Criteria = None,
        pathology: Criteria = None,
        department: Criteria = None,
        postcode: Criteria = None,
        limit: int = 100,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> list[Profile]:
        return await self._read(
            profiles.find_users,
            (actor, purpose),
            mutuelle=mutuelle,
            pathology=pathology,
            department=department,
            postcode=postcode,
            limit=limit,
        )

    async def log_query(self, user_id: str, text: str, intent: str | None = None, result: Any = None) -> QueryRecord:
        return await self._call(records.log_query, user_id, text, intent, result)

    async def recent_queries(
        self,
        user_id: str,
        limit: int = 20,
        since: _dt.datetime | None = None,
        *,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> list[QueryRecord]:
        return await self._read(records.recent_queries, (actor, purpose), user_id, limit, since)

    async def count_by_intent(self, start: _dt.datetime, end: _dt.datetime) -> dict[str | None, int]:
        return await self._call(records.count_by_intent, start, end)

    async def store_pathway(self, user_id: str, condition: str, pathway: dict[str, Any]) -> Pathway:
        return await self._call(records.store_pathway, user_id, condition, pathway)

    async def record_decision(self, user_id: str, pathway_id: int, step: str, decision: dict[str, Any]) -> Decision:
        return await self._call(records.record_decision, user_id, pathway_id, step, decision)

    async def get_pathway(
        self, user_id: str, pathway_id: int, *, actor: str | None = None, purpose: str | None = None
    ) -> Pathway:
        return await self._read(records.get_pathway, (actor, purpose), user_id, pathway_id)

    async def list_pathways(
        self,
        user_id: str,
        condition: str | None = None,
        limit: int = 20,
        *,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> list[Pathway]:
        return await self._read(records.list_pathways, (actor, purpose), user_id, condition, limit)

    async def list_documents(
        self,
        user_id: str,
        document_type: str | None = None,
        limit: int = 50,
        *,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> list[DocumentSummary]:
        return await self._read(records.list_documents, (actor, purpose), user_id, document_type, limit)


def open_api(settings: Settings | None = None) -> DataAPI:
    """Bootstrap the process (settings — exit 2 on a bad one —, database, migrations) and open the sync API."""
    return DataAPI.from_settings(bootstrap(settings).settings)


def open_async_api(settings: Settings | None = None) -> AsyncDataAPI:
    """Bootstrap the process and open the async API (call at start-up; ``await api.close()`` at shutdown)."""
    return AsyncDataAPI.from_settings(bootstrap(settings).settings)


__all__ = [
    "AsyncDataAPI",
    "DataAPI",
    "DataError",
    "Decision",
    "DocumentSummary",
    "InvalidInput",
    "InvalidProfile",
    "Pathway",
    "PayloadTooLarge",
    "Profile",
    "QueryRecord",
    "UnknownPathway",
    "UnknownStep",
    "UnknownUser",
    "UserExists",
    "as_json",
    "open_api",
    "open_async_api",
]
