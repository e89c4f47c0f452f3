"""Run the analysis over stored documents: the ``documents`` table is the ledger.

A document needs analysis when ``analysis`` is NULL or was written by an older
``extractor_version``; medications whose BDPM lookup failed are ``pending``
with a retry time. Both are found again by a query, so a lost queue task or a
killed worker only delays work. Analysing twice gives the same result
(idempotent). Logs carry document ids and counts only, never text or names.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Iterator
from typing import Any

import peewee

from models import Document, db
from models.clock import utcnow
from models.json_paths import json_text
from worker import cache, memory
from worker.analysis import medications, mirror
from worker.analysis.medications import BdpmLookup
from worker.analysis.pipeline import EXTRACTOR_VERSION, analyze_text
from worker.bdpm import lookup as bdpm_lookup
from worker.bdpm import store as bdpm_store
from worker.errors import safe_error
from worker.logsetup import doc_extra, short_id
from worker.submissions import ledger

log = logging.getLogger("mediflux.analysis")


BDPM_LIMIT = 20


def cache_lookup(term: str) -> list[dict[str, Any]]:
    """BDPM medicaments whose denomination contains ``term``, read through the API cache.

    No data (nothing cached and BDPM failing or not configured) → ``BdpmUnavailable``:
    the medication goes ``pending`` and the ``analysis_backlog`` job retries it.
    """
    try:
        result = cache.get("bdpm", "medicaments", {"denomination": {"contains_one_of": [term]}, "limit": BDPM_LIMIT})
    except (cache.CacheUnavailable, cache.CacheNotConfigured) as exc:
        raise medications.BdpmUnavailable("bdpm") from exc
    found = (result.data or {}).get("medicaments") or []
    return [m for m in found if isinstance(m, dict)]


def default_lookup() -> BdpmLookup:
    """The GraphQL source through the API cache: used while the mirror is empty (see docs/analysis.md)."""
    return cache_lookup


def match_medications(
    analysis: dict[str, Any],
    pages: list[dict[str, Any]],
    lookup: BdpmLookup | None,
    now: _dt.datetime,
    only_pending: bool = False,
) -> None:
    """Match the medications: on the local mirror when it has data (the default), else through ``lookup``
    (the GraphQL source via the cache; ``pending`` when that has nothing either). An injected ``lookup`` wins."""
    live = bdpm_lookup.current_index(db) if lookup is None else None
    if live is not None:
        mirror.match_all(analysis, db, live, pages, now, only_pending)
        return
    medications.match_all(analysis, lookup or default_lookup(), now, only_pending)
    analysis["bdpm_version"] = None


def _pages(doc: Document) -> list[dict[str, Any]]:
    return doc.pages or [{"number": 1, "text": doc.text or ""}]


def _save(document_id: int, analysis: dict[str, Any]) -> None:
    """Store the analysis; the document's submissions become ``analysed`` in the same transaction."""
    with db.atomic():
        Document.update(analysis=analysis).where(Document.id == document_id).execute()
        ledger.record_analysed([document_id])


def analyze_document(document_id: int, lookup: BdpmLookup | None = None) -> dict[str, Any]:
    """Analyse one stored document, store ``documents.analysis`` and return it (KeyError if it is gone)."""
    doc = Document.get_or_none(Document.id == document_id)
    if doc is None:
        raise KeyError(document_id)
    now = utcnow()
    hint = (doc.meta or {}).get("document_type_hint")
    analysis = analyze_text(_pages(doc), hint=hint if isinstance(hint, str) else None, today=now.date())
    analysis["analyzed_at"] = now.isoformat()
    match_medications(analysis, _pages(doc), lookup, now)
    _save(document_id, analysis)
    log.info(
        "analysed document %s [%s]: %s",
        document_id,
        short_id(doc.sha256),
        analysis["document_type"],
        extra=doc_extra(doc.sha256),
    )
    return analysis


def analyze_safely(document_id: int, lookup: BdpmLookup | None = None) -> bool:
    """Analyse, and on an unexpected error record it (type only) so the backlog does not spin on it."""
    try:
        analyze_document(document_id, lookup)
        return True
    except KeyError:
        return False
    except Exception as exc:  # noqa: BLE001 — one bad document must not stop a batch
        sha = Document.select(Document.sha256).where(Document.id == document_id).scalar()
        log.warning(
            "analysis of document %s [%s] failed: %s",
            document_id,
            short_id(sha),
            type(exc).__name__,
            extra=doc_extra(sha),
        )
        _save(
            document_id,
            {
                "extractor_version": EXTRACTOR_VERSION,
                "document_type": "unknown",
                "status": "failed",
                "error": safe_error(exc).split(":")[0],
                "analyzed_at": utcnow().isoformat(),
            },
        )
        return False


def _version() -> peewee.ColumnBase:
    return peewee.Cast(json_text(Document.analysis, "extractor_version"), "INTEGER")


def pending_ids(limit: int) -> list[int]:
    """Documents never analysed, or analysed by an older extractor, oldest first."""
    query = (
        Document.select(Document.id)
        .where(Document.analysis.is_null() | (_version() < EXTRACTOR_VERSION))
        .order_by(Document.id)
        .limit(limit)
    )
    return [row.id for row in query]


def analyze_pending(limit: int, lookup: BdpmLookup | None = None) -> int:
    """Analyse up to ``limit`` documents that need it; returns how many were analysed."""
    return analyze_batch(pending_ids(limit), lookup)


def analyze_batch(ids: list[int], lookup: BdpmLookup | None = None) -> int:
    """Analyse these documents (missing ones are skipped); returns how many were analysed."""
    done = sum(analyze_safely(int(i), lookup) for i in ids)
    memory.after_bulk_work()
    return done


def retry_medication_matching(limit: int, lookup: BdpmLookup | None = None) -> int:
    """Retry BDPM matching for documents whose pending medications are due; returns documents retried."""
    now = utcnow()
    query = (
        Document.select(Document.id, Document.analysis, Document.pages, Document.text)
        .where(
            (json_text(Document.analysis, "bdpm_status") == "pending")
            & (json_text(Document.analysis, "bdpm_retry_after") <= now.isoformat())
        )
        .order_by(Document.id)
        .limit(limit)
    )
    done = 0
    for doc in query:
        analysis = dict(doc.analysis)
        match_medications(analysis, _pages(doc), lookup, now, only_pending=True)
        _save(doc.id, analysis)
        done += 1
    return done


def _bdpm_version() -> peewee.ColumnBase:
    return peewee.Cast(json_text(Document.analysis, "bdpm_version"), "INTEGER")


def select_bdpm_stale(version: int) -> peewee.ModelSelect[Document]:
    """Documents with medications matched against another mirror version, another source, or still pending."""
    return (
        Document.select(Document.id)
        .where(
            json_text(Document.analysis, "bdpm_status").in_(["done", "pending"])
            & (json_text(Document.analysis, "bdpm_version").is_null() | (_bdpm_version() != version))
        )
        .order_by(Document.id)
    )


def rematch(ids: list[int]) -> int:
    """Match the medications of these documents again on the live mirror (extraction is kept); how many."""
    live = bdpm_lookup.current_index(db)
    if live is None:
        return 0
    now = utcnow()
    done = 0
    for doc in Document.select(Document.id, Document.analysis, Document.pages, Document.text).where(
        Document.id.in_(ids)
    ):
        analysis = dict(doc.analysis or {})
        try:
            mirror.match_all(analysis, db, live, _pages(doc), now)
        except Exception as exc:  # noqa: BLE001 — one odd analysis must not stall the others
            log.warning("BDPM re-match of document %s failed: %s", doc.id, type(exc).__name__)
            analysis = {**(doc.analysis or {}), "bdpm_version": live[0], "bdpm_error": type(exc).__name__}
        _save(doc.id, analysis)
        done += 1
    return done


def rematch_stale(limit: int) -> int:
    """After a sync that changed the mirror: re-match up to ``limit`` stale documents; how many."""
    version = bdpm_store.current_version(db)
    if version is None:
        return 0
    return rematch([row.id for row in select_bdpm_stale(version).limit(limit)])


def select_for_reanalysis(
    doc_type: str | None = None, since: _dt.datetime | None = None
) -> peewee.ModelSelect[Document]:
    """Documents ``mediflux reanalyze`` goes over: optionally one (current) type, created since a date."""
    query = Document.select(Document.id).order_by(Document.id)
    if doc_type:
        query = query.where(json_text(Document.analysis, "document_type") == doc_type)
    if since:
        query = query.where(Document.created_at >= since)
    return query


def batches(query: peewee.ModelSelect[Document], size: int) -> Iterator[list[int]]:
    """Ids of ``query`` in batches, paging by id so rows added meanwhile do not shift pages."""
    last = 0
    while True:
        ids = [row.id for row in query.where(Document.id > last).limit(size)]
        if not ids:
            return
        yield ids
        last = ids[-1]
