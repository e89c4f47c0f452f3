"""Store landed files: one document row per owner and distinct content, committed before the file leaves the inbox.

Order of operations for a batch (many files, one transaction):

1. read each file safely (:mod:`files`), hash it, parse it (:mod:`parse`; NIRs masked);
2. in one transaction: create missing users, insert one row per new (owner, SHA-256) (one multi-row statement),
   record re-landed content in ``ingest_duplicates``;
3. after the commit: delete each file, or move it to ``processed/`` (``MEDIFLUX_KEEP_PROCESSED=1``);
4. trigger analysis of the new ids (``triggers.analyze``).

A crash between 2 and 3 leaves a file whose hash is stored: the next pass sees the same file (same
inbox path, inode and mtime) and only finishes its exit — deleted, or kept at the row's ``processed_path``
as the first pass would have — no second row, no false duplicate. Transient failures
(database locked or unreachable, disk full, file still changing) leave files in place and report them for
a retry; only content that can never become a document goes to quarantine.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peewee

from models import Document, IngestDuplicate, User, db
from models.bulk import insert_ignore_returning
from models.clock import utcnow
from models.durability import CommitNotDurable, durable_atomic
from models.submissions import DUPLICATE, INGESTED
from worker import memory, metrics
from worker.config import Settings
from worker.dirfd import Folders
from worker.errors import safe_error
from worker.filenames import ref
from worker.ingest import activity
from worker.ingest.files import (
    NO_USER,
    TRANSIENT_ERRNOS,
    Gone,
    Landed,
    Refused,
    Skipped,
    Transient,
    read_landed,
)
from worker.ingest.leaving import leave_inbox, quarantine_file
from worker.ingest.owner import owner_of
from worker.ingest.parse import parse_document
from worker.ingest.parsed import ParsedDocument, ParseError
from worker.ingest.report import IngestReport
from worker.ocr.sniff import EXTENSIONS as MEDIA_EXTENSIONS
from worker.ocr.sniff import HEAD_BYTES, media_kind
from worker.privacy import mask_text, scrub
from worker.submissions import ledger
from worker.triggers import NO_QUEUE, Triggers, after_commit, hand_to_ocr

log = logging.getLogger("mediflux.ingest")
_ONE_BATCH_AT_A_TIME = threading.Lock()
# The database refusing a value (not a fault of the database): split the batch, quarantine the culprit.
_DATA_ERRORS = (ValueError, peewee.DataError)
_COLUMNS = (
    Document.user,
    Document.original_filename,
    Document.sha256,
    Document.format,
    Document.pages,
    Document.text,
    Document.meta,
    Document.status,
    Document.created_at,
)
EXTENSIONS = {"json": "json", "hocr": "hocr", "tsv": "tsv", "alto": "alto.xml", "text": "txt"} | MEDIA_EXTENSIONS


_Key = tuple[int | None, str]  # (owner's users.id or None, sha256): a document's idempotency key


@dataclass
class _Ready:
    landed: Landed
    sha256: str
    doc: ParsedDocument
    user_id: str | None


def _is_transient_db_error(exc: BaseException) -> bool:
    return isinstance(exc, (peewee.OperationalError, peewee.InterfaceError)) or (
        isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS
    )


def _prepare(path: str, settings: Settings, report: IngestReport, dirs: Folders) -> _Ready | None:
    """Read and parse one file; every non-storable outcome is handled (and counted) here."""
    landed = None
    try:
        landed = read_landed(path, dirs, settings.max_file_mb * 1024 * 1024)
        if media_kind(landed.data[:HEAD_BYTES]):
            report.ocr.append(path)  # an image or a PDF: the OCR stage's (worker.ocr.stage)
            return None
        doc = parse_document(landed.data, os.path.basename(landed.rel))
        user_id = owner_of(landed.user_id, doc.user_id)
    except Gone:
        report.gone += 1
        return None
    except Skipped as exc:
        report.skipped += 1
        report.count(str(exc))
        log.info("skipped %s: %s", ref(path), exc)
        return None
    except Transient as exc:
        report.retry.append(path)
        report.count(exc.reason)
        return None
    except (Refused, ParseError) as exc:
        reason = exc.reason
        young = landed is not None and time.time() - landed.mtime < settings.ingest_grace_seconds
        if isinstance(exc, ParseError) and young:
            report.retry.append(path)  # maybe still being written: give it the grace period
            report.count("young_" + reason)
            return None
        quarantine_file(path, landed, reason, str(exc), settings, report, getattr(exc, "place", None))
        return None
    return _Ready(landed, hashlib.sha256(landed.data).hexdigest(), doc, user_id)


def _meta(item: _Ready, settings: Settings) -> dict[str, Any]:
    doc, landed = item.doc, item.landed
    meta: dict[str, Any] = {
        "format": doc.format,
        "engine": doc.engine,
        "size_bytes": len(landed.data),
        "pages": len(doc.pages),
        "words": doc.words,
        "nirs_masked": doc.extra.get("nirs_masked", 0),
        "timings_ms": {"read": landed.read_ms, "parse": doc.extra.get("parse_ms")},
        "inbox_path": mask_text(landed.rel),
        "inbox_inode": landed.inode,
        "inbox_mtime_ns": landed.mtime_ns,
    }
    if "ocr" in doc.extra:
        meta["ocr"] = doc.extra["ocr"]
    if doc.document_type_hint:
        meta["document_type_hint"] = doc.document_type_hint
    if doc.source_filename:
        meta["source_filename"] = doc.source_filename
    if settings.keep_processed:
        meta["processed_path"] = str(
            Path("processed") / (item.user_id or NO_USER) / f"{item.sha256}.{EXTENSIONS[doc.format]}"
        )
    return scrub(meta, numbers=False)  # every string of it; its numbers are ours (sizes, inode, mtime)


def _keep_target(item: _Ready, settings: Settings) -> Path | None:
    """Where a newly stored file is kept (``MEDIFLUX_KEEP_PROCESSED=1``), or None: it is deleted."""
    return settings.home / _meta(item, settings)["processed_path"] if settings.keep_processed else None


def _resumed_keep(meta: dict[str, Any], settings: Settings) -> Path | None:
    """Where the stored row of this very file says it is kept (its first pass crashed before the exit), or None."""
    kept = meta.get("processed_path")
    if not isinstance(kept, str):
        return None
    parts = Path(kept).parts
    if len(parts) < 2 or parts[0] != "processed" or ".." in parts:
        return None  # never move a file anywhere but under processed/
    return settings.home / kept


def _same_file(meta: dict[str, Any], landed: Landed) -> bool:
    return (meta.get("inbox_path"), meta.get("inbox_inode"), meta.get("inbox_mtime_ns")) == (
        mask_text(landed.rel),  # stored masked
        landed.inode,
        landed.mtime_ns,
    )


def _landing(item: _Ready) -> ledger.Landing:
    return ledger.Landing(ledger.where(item.landed.rel), item.user_id, item.sha256, len(item.landed.data))


def _commit(items: list[_Ready], settings: Settings) -> tuple[list[int], list[_Ready], int, dict[int, Path | None]]:
    """One transaction: users, new documents (multi-row INSERTs), duplicate traces.

    The idempotency key is (owner, SHA-256): the same bytes from another user are that user's own document.
    Returns (new ids, the items stored as new, duplicates recorded, and for each item already stored by its
    own earlier pass — ``id(item)`` — where that pass meant to keep it). The commit is on stable storage when this
    returns (:func:`models.durability.durable_atomic`): the files are removed only after it.
    """
    with durable_atomic(db):
        user_ids = sorted({i.user_id for i in items if i.user_id})
        users: dict[str, int] = {}
        if user_ids:
            User.insert_many([{"user_id": u} for u in user_ids]).on_conflict_ignore().execute()
            users = {u.user_id: u.id for u in User.select(User.id, User.user_id).where(User.user_id.in_(user_ids))}
        owners = [users.get(i.user_id) if i.user_id else None for i in items]
        # (owner, sha256) -> (stored id, meta); id None for content first seen earlier in this batch
        existing: dict[_Key, tuple[int | None, dict[str, Any]]] = {
            (d.user_id, d.sha256): (d.id, d.meta or {})
            for d in Document.select(Document.id, Document.user, Document.sha256, Document.meta).where(
                Document.sha256.in_(sorted({i.sha256 for i in items}))
            )
        }
        rows: list[tuple[Any, ...]] = []
        new_items: list[_Ready] = []
        new_keys: list[_Key] = []
        dup_ids: list[int] = []
        dup_keys: list[_Key] = []
        dup_items: list[tuple[_Ready, _Key | int]] = []  # their submissions: duplicate of that key's or id's document
        resumed: dict[int, Path | None] = {}
        submitted = ledger.pending_for([_landing(i) for i in items])
        now = utcnow()
        for item, owner in zip(items, owners):
            key = (owner, item.sha256)
            if key in existing:
                found_id, meta = existing[key]
                if found_id is None:
                    dup_keys.append(key)  # the same content twice for this owner in this batch
                    dup_items.append((item, key))
                elif not _same_file(meta, item.landed):
                    dup_ids.append(found_id)
                    dup_items.append((item, found_id))
                else:
                    resumed[id(item)] = _resumed_keep(meta, settings)
                continue
            existing[key] = (None, {})
            doc = item.doc
            sub = submitted.get(ledger.where(item.landed.rel))
            rows.append(
                (
                    owner,
                    doc.source_filename or mask_text((sub and sub.filename) or os.path.basename(item.landed.rel)),
                    item.sha256,
                    doc.format,
                    [p.as_dict() for p in doc.pages],
                    doc.text,
                    _meta(item, settings),
                    "ingested",
                    now,
                )
            )
            new_items.append(item)
            new_keys.append(key)
        # ON CONFLICT DO NOTHING, on either unique index (per owner; per sha256 without owner): on PostgreSQL
        # another process may commit the same content for the same owner meanwhile; such rows are not returned
        # and are looked up below.
        ids: dict[_Key, int] = {
            (owner, sha): int(i)
            for i, owner, sha in insert_ignore_returning(
                Document, _COLUMNS, rows, None, (Document.id, Document.user, Document.sha256)
            )
        }
        missing = {key for key in new_keys if key not in ids}
        if missing:
            ids.update(
                ((d.user_id, d.sha256), d.id)
                for d in Document.select(Document.id, Document.user, Document.sha256).where(
                    Document.sha256.in_(sorted({sha for _, sha in missing}))
                )
                if (d.user_id, d.sha256) in missing
            )
        dup_ids += [ids[key] for key in dup_keys if key in ids]
        if dup_ids:
            IngestDuplicate.insert_many([{"document": i} for i in dup_ids]).execute()
        outcomes = [(_landing(i), ids[k], INGESTED) for i, k in zip(new_items, new_keys) if k in ids]
        for item, k in dup_items:
            doc_id = ids.get(k) if isinstance(k, tuple) else k
            if doc_id is not None:
                outcomes.append((_landing(item), doc_id, DUPLICATE))
        ledger.record_landings(outcomes, submitted, now)
    return [ids[key] for key in new_keys if key in ids], new_items, len(dup_ids), resumed


def ingest_batch(paths: list[str], settings: Settings, triggers: Triggers = NO_QUEUE) -> IngestReport:
    """Ingest ``paths`` in one transaction (see module doc); ``triggers`` gets the new ids for analysis.

    Batches run one at a time per process (``_ONE_BATCH_AT_A_TIME``): reading and parsing are CPU-bound
    Python, so consumer threads running batches side by side only share one core through the GIL, and
    they lost about a third of the throughput to lock hand-offs and to queueing for SQLite's write lock.
    Other processes (a second consumer, the watcher's inline ingestion) still run in parallel.
    """
    with activity.ingesting(), _ONE_BATCH_AT_A_TIME:
        report, new_ids, duplicates = _ingest_locked(paths, settings)
    memory.after_bulk_work()
    after_commit(triggers, new_ids)  # the analysis trigger runs outside the lock
    hand_to_ocr(triggers, report.ocr)
    if new_ids or duplicates:
        log.info("ingested %d documents (%d duplicates) in one batch", len(new_ids), duplicates)
    return report


def _ingest_locked(paths: list[str], settings: Settings) -> tuple[IngestReport, list[int], int]:
    report = IngestReport()
    with Folders(settings.inbox) as dirs:  # the inbox's folder descriptors, for this batch only
        items = [r for r in (_prepare(p, settings, report, dirs) for p in paths) if r is not None]
        new_ids, duplicates = _store(items, settings, report) if items else ([], 0)
    return report, new_ids, duplicates


def _store(items: list[_Ready], settings: Settings, report: IngestReport) -> tuple[list[int], int]:
    """Commit ``items`` then remove their files; returns (new ids, duplicates recorded).

    A batch the database refuses for its data (e.g. a value PostgreSQL cannot store) is split in halves
    until the refused file is alone; that file is quarantined (``unstorable``) and the others are stored,
    so one bad file never holds its neighbours back.
    """
    try:
        new_ids, new_items, duplicates, resumed = _commit(items, settings)
    except _DATA_ERRORS as exc:
        if len(items) > 1:
            half = len(items) // 2
            first, second = _store(items[:half], settings, report), _store(items[half:], settings, report)
            return first[0] + second[0], first[1] + second[1]
        item = items[0]
        log.warning("the database refused %s: %s", ref(item.landed.path), type(exc).__name__)
        quarantine_file(
            item.landed.path,
            item.landed,
            "unstorable",
            f"the database refused the document ({type(exc).__name__})",
            settings,
            report,
            owner=item.user_id,
        )
        return [], 0
    except CommitNotDurable as exc:  # removing the files could lose documents: leave them all in place
        log.error("ingestion refused, files left in the inbox: %s", exc)
        report.retry += [i.landed.path for i in items]
        report.count("commit_not_durable")
        return [], 0
    except Exception as exc:
        if not _is_transient_db_error(exc):
            raise
        log.warning("ingest batch of %d left for retry: %s", len(items), safe_error(exc).split(":")[0])
        report.retry += [i.landed.path for i in items]
        report.count("database_unavailable")
        return [], 0
    report.stored += new_ids
    report.duplicates += duplicates
    stored_at = time.time()
    for item in new_items:
        metrics.record_ingested(item.doc.format, latency_seconds=stored_at - item.landed.mtime)
    for _ in range(duplicates):
        metrics.record_duplicate()
    report.already_stored += len(items) - len(new_items) - duplicates
    new_set = {id(i) for i in new_items}
    for item in items:
        # new: kept or deleted as configured; stored by its own crashed pass: as that pass meant (its row's
        # processed_path); a duplicate of another file's row: deleted
        target = _keep_target(item, settings) if id(item) in new_set else resumed.get(id(item))
        leave_inbox(item.landed, target, report)
    return new_ids, duplicates


def store_ocred(
    landed: Landed, sha256: str, doc: ParsedDocument, user_id: str | None, settings: Settings, triggers: Triggers
) -> IngestReport:
    """Commit one OCRed document like any landed file (same key, same exits from the inbox), then trigger
    its analysis. The commit is durable before the image or PDF leaves the inbox. Not counted as ingestion
    activity (``activity.ingesting``): one document is no backlog, and its analysis should not wait for it."""
    report = IngestReport()
    with _ONE_BATCH_AT_A_TIME:
        new_ids, _ = _store([_Ready(landed, sha256, doc, user_id)], settings, report)
    after_commit(triggers, new_ids)
    return report


def ingest_paths(
    paths: Iterable[str], settings: Settings, triggers: Triggers = NO_QUEUE, batch_size: int | None = None
) -> IngestReport:
    """Ingest any number of paths, ``batch_size`` (default ``MEDIFLUX_INGEST_BATCH``) per transaction."""
    size = batch_size or settings.ingest_batch
    report, chunk = IngestReport(), []
    for path in paths:
        chunk.append(path)
        if len(chunk) >= size:
            report.merge(ingest_batch(chunk, settings, triggers))
            chunk = []
    if chunk:
        report.merge(ingest_batch(chunk, settings, triggers))
    return report
