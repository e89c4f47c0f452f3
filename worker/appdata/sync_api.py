"""The sync data API (threads: WSGI servers, scripts); the app imports it from :mod:`worker.api`."""

from __future__ import annotations

import datetime as _dt
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from models.pools import open_pooled_database
from worker.appdata import documents, handle, profiles, records, traced
from worker.appdata.handle import Criteria, Handle, T
from worker.appdata.views import Decision, Document, DocumentSummary, Pathway, Profile, QueryRecord, Submission
from worker.submissions import waiting


class DataAPI(Handle):
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

    def get_medicine(self, code: str) -> dict[str, Any] | None:
        """The medicine with this CIS, or of the box with this CIP13/CIP7, from the local BDPM mirror (docs/bdpm.md)."""
        return self._call(handle.lookup_medicine, code)

    def submit_document(
        self, user_id: str, data: documents.Data, filename: str, *, content_type: str | None = None
    ) -> Submission:
        """Write the file into the user's inbox folder, record its submission, return it (docs/documents.md)."""
        inbox, limit = self._inbox()
        return self._call(documents.submit_document, inbox, limit, user_id, data, filename, content_type)

    def document_status(
        self, user_id: str, submission_id: str, *, actor: str | None = None, purpose: str | None = None
    ) -> Submission:
        return self._read(documents.document_status, (actor, purpose), user_id, submission_id)

    def wait_for_document(
        self, user_id: str, submission_id: str, timeout: float, *, actor: str | None = None, purpose: str | None = None
    ) -> Submission:
        """The submission at its first final state, or as it is when ``timeout`` (seconds) has passed (one access
        trace, for the first look; the polls after it are not traced)."""
        first = self.document_status(user_id, submission_id, actor=actor, purpose=purpose)
        if first.final or timeout <= 0:
            return first
        return waiting.wait_sync(lambda: self._call(documents.document_status, user_id, submission_id), timeout)

    def follow_document(
        self, user_id: str, submission_id: str, timeout: float, *, actor: str | None = None, purpose: str | None = None
    ) -> Iterator[Submission]:
        """As :meth:`AsyncDataAPI.follow_document`: each state seen, the current one first, until the first final
        state or ``timeout`` seconds; one access trace, for the first look."""
        current = self.document_status(user_id, submission_id, actor=actor, purpose=purpose)
        yield current
        deadline = time.monotonic() + max(0.0, timeout)
        interval = waiting.FIRST_INTERVAL
        while not current.final and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(interval, left))
            latest = self._call(documents.document_status, user_id, submission_id)
            if latest.state == current.state:
                interval = min(interval * 2, waiting.FOLLOW_MAX_INTERVAL)
                continue
            current, interval = latest, waiting.FIRST_INTERVAL
            yield current

    def list_submissions(
        self,
        user_id: str,
        state: str | None = None,
        limit: int = 50,
        *,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> list[Submission]:
        return self._read(documents.list_submissions, (actor, purpose), user_id, state, limit)

    def get_document(
        self, user_id: str, document_id: int, *, actor: str | None = None, purpose: str | None = None
    ) -> Document:
        return self._read(documents.get_document, (actor, purpose), user_id, document_id)

    def search_medicines(self, text: str, limit: int = 10) -> list[dict[str, Any]]:
        """Specialities matching a prescription line ("Xanax 0,25 mg cp"), best first, with scores (docs/bdpm.md)."""
        return self._call(handle.search_medicines, text, limit)
