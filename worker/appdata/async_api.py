"""The async data API (asyncio apps: one pool of connections, no thread per call but the file steps); the app
imports it from :mod:`worker.api`."""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import AsyncIterator, Callable
from typing import Any

from models.pools import open_async_database
from worker.appdata import documents, handle, profiles, records, traced
from worker.appdata.handle import Criteria, Handle, T
from worker.appdata.views import Decision, Document, DocumentSummary, Pathway, Profile, QueryRecord, Submission
from worker.submissions import waiting


class AsyncDataAPI(Handle):
    """Async variant (asyncio web backends): the same functions on a pwasyncio pool, never blocking the loop.

    A call borrows a pooled connection for its own duration only, so a request that
    awaits other things between calls does not hold a connection meanwhile.
    """

    open_database = staticmethod(open_async_database)
    new_lock = staticmethod(asyncio.Lock)
    _waiters: waiting.AsyncWaiters[Submission] | None = None
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

    async def submit_document(
        self, user_id: str, data: documents.Data, filename: str, *, content_type: str | None = None
    ) -> Submission:
        """As :meth:`DataAPI.submit_document`; reading, writing and fsyncs run in a thread, never on the loop."""
        inbox, limit = self._inbox()
        p = await asyncio.to_thread(documents.prepare, inbox, limit, user_id, data, filename, content_type)
        existing = await self._call(documents.first_submission, user_id, p.sha256)
        if existing is not None:
            return existing
        await asyncio.to_thread(documents.write_temp, inbox, p)
        try:
            recorded = await self._call(documents.record, p)
        except BaseException:
            await asyncio.to_thread(documents.discard_temp, inbox, p)
            raise
        if recorded is None:  # the same bytes submitted concurrently: that one is the first
            await asyncio.to_thread(documents.discard_temp, inbox, p)
            first = await self._call(documents.first_submission, user_id, p.sha256)
            assert first is not None
            return first
        await asyncio.to_thread(documents.publish, inbox, p)
        return recorded

    async def document_status(
        self, user_id: str, submission_id: str, *, actor: str | None = None, purpose: str | None = None
    ) -> Submission:
        return await self._read(documents.document_status, (actor, purpose), user_id, submission_id)

    async def wait_for_document(
        self, user_id: str, submission_id: str, timeout: float, *, actor: str | None = None, purpose: str | None = None
    ) -> Submission:
        """The submission at its first final state, or as it is after ``timeout`` seconds. Every waiter of this
        API shares one poll (one query per interval for all of them): no thread, no query per waiter. One
        access trace, for the first look."""
        current = await self.document_status(user_id, submission_id, actor=actor, purpose=purpose)
        if current.final or timeout <= 0:
            return current
        if self._waiters is None:
            self._waiters = waiting.AsyncWaiters(lambda ids: self._call(documents.final_views, ids))
        done = await self._waiters.wait(submission_id, timeout)
        return done if done is not None else await self._call(documents.document_status, user_id, submission_id)

    async def follow_document(
        self, user_id: str, submission_id: str, timeout: float, *, actor: str | None = None, purpose: str | None = None
    ) -> AsyncIterator[Submission]:
        """Each state the submission is seen in, the current one first, until its first final state or ``timeout``
        seconds (a live view: the reference app's Server-Sent Events). One access trace for the whole stream, for
        the first look; the looks after it (10 ms apart at first, backing off to a second while nothing changes)
        are not traced."""
        current = await self.document_status(user_id, submission_id, actor=actor, purpose=purpose)
        yield current
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        interval = waiting.FIRST_INTERVAL
        while not current.final and (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(interval, left))
            latest = await self._call(documents.document_status, user_id, submission_id)
            if latest.state == current.state:
                interval = min(interval * 2, waiting.FOLLOW_MAX_INTERVAL)
                continue
            current, interval = latest, waiting.FIRST_INTERVAL
            yield current

    async def list_submissions(
        self,
        user_id: str,
        state: str | None = None,
        limit: int = 50,
        *,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> list[Submission]:
        return await self._read(documents.list_submissions, (actor, purpose), user_id, state, limit)

    async def get_document(
        self, user_id: str, document_id: int, *, actor: str | None = None, purpose: str | None = None
    ) -> Document:
        return await self._read(documents.get_document, (actor, purpose), user_id, document_id)

    async def get_medicine(self, code: str) -> dict[str, Any] | None:
        return await self._call(handle.lookup_medicine, code)

    async def search_medicines(self, text: str, limit: int = 10) -> list[dict[str, Any]]:
        return await self._call(handle.search_medicines, text, limit)
