"""The one way domain code asks for work to be done later: the :class:`Triggers` interface.

``worker/`` never imports ``tasks``: it calls a ``Triggers`` object handed to it (the watcher, ingestion,
the cache client, periodic jobs). ``tasks/`` implements it on huey (:mod:`tasks.wiring`); a process that
has no queue keeps :data:`NO_QUEUE`. A lost trigger loses no work: the database and the inbox are the
ledger, and a periodic job rediscovers each kind (``inbox_rescan``, ``analysis_backlog``,
``cache_refresh``, ``erasure_backlog``, ``webhook_deliveries``). Arguments are ids, opaque keys and JSON
values only (the queue carries JSON, never pickles), never a user id or a file name: erasure carries its
request's row id, ingestion and OCR opaque keys of the inbox files (:mod:`worker.ingest.tokens`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

log = logging.getLogger("mediflux.triggers")


class QueueNotConnected(RuntimeError):
    """This process has no queue; nothing would run the work it asked for."""


class Triggers(Protocol):
    """Enqueue work. Implementations never block on the work itself."""

    def ingest(self, paths: Sequence[str]) -> int:
        """Ingest these inbox files (in batches of ``MEDIFLUX_INGEST_BATCH``); returns the number of tasks."""
        ...

    def analyze(self, document_ids: Sequence[int]) -> None:
        """Analyse these stored documents."""
        ...

    def ocr(self, paths: Sequence[str]) -> int:
        """OCR these inbox images and PDFs (one task each, queued below ingestion); returns the number of tasks."""
        ...

    def refresh_cache(self, source: str, endpoint: str, params: Mapping[str, Any]) -> None:
        """Refresh one API-cache entry that was served stale."""
        ...

    def erase_user(self, user_id: str) -> None:
        """Erase everything held about ``user_id`` (GDPR): the request is recorded in the database, the task
        carries its row id only. Raises InvalidUserId or LegalHoldError before anything is enqueued."""
        ...

    def run_job(self, name: str) -> None:
        """Run the periodic job ``name`` now (claimed as usual: once across consumers)."""
        ...

    def deliver_webhook(self, delivery_id: int, delay: float = 0.0) -> None:
        """Attempt this webhook delivery in ``delay`` seconds (claimed: one sender per attempt)."""
        ...


class NoQueue:
    """Triggers of a process without a queue: the rediscoverable kinds are left to their periodic job;
    erasure and job runs, which nothing would rediscover, raise :class:`QueueNotConnected`."""

    def ingest(self, paths: Sequence[str]) -> int:
        log.debug("no queue: %d inbox files left for inbox_rescan", len(paths))
        return 0

    def analyze(self, document_ids: Sequence[int]) -> None:
        log.debug("no queue: %d documents left for analysis_backlog", len(document_ids))

    def ocr(self, paths: Sequence[str]) -> int:
        log.debug("no queue: %d images or PDFs left for inbox_rescan", len(paths))
        return 0

    def refresh_cache(self, source: str, endpoint: str, params: Mapping[str, Any]) -> None:
        log.debug("no queue: a stale %s entry is left for cache_refresh", source)

    def erase_user(self, user_id: str) -> None:
        raise QueueNotConnected("erase_user needs the queue: use tasks.connect() (or `mediflux erase-user`)")

    def run_job(self, name: str) -> None:
        raise QueueNotConnected("run_job needs the queue: use tasks.connect()")

    def deliver_webhook(self, delivery_id: int, delay: float = 0.0) -> None:
        log.debug("no queue: a webhook delivery is left for webhook_deliveries")


NO_QUEUE: Triggers = NoQueue()


def after_commit(triggers: Triggers, document_ids: Sequence[int]) -> None:
    """Trigger analysis of documents just committed. A failure (queue down) is logged and swallowed: the
    rows are committed, and ``analysis_backlog`` finds unanalysed documents anyway."""
    if not document_ids:
        return
    try:
        triggers.analyze(list(document_ids))
    except Exception as exc:  # noqa: BLE001 — the commit stands; the backlog job is the safety net
        log.warning("after-ingest trigger failed for %d documents: %s", len(document_ids), type(exc).__name__)


def hand_to_ocr(triggers: Triggers, paths: Sequence[str]) -> None:
    """Hand images and PDFs found by ingestion to the OCR stage. A failure (queue down) is logged and
    swallowed: the files are still in the inbox, the ledger, and ``inbox_rescan`` finds them again."""
    if not paths:
        return
    try:
        triggers.ocr(list(paths))
    except Exception as exc:  # noqa: BLE001 — the inbox keeps the files
        log.warning("OCR trigger failed for %d files: %s", len(paths), type(exc).__name__)
