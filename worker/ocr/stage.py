"""The OCR stage: an inbox image or PDF in, one committed document out, the file leaving the inbox last.

The inbox file is the ledger until the OCRed document is committed (durably): a process killed mid-OCR
leaves the file where it was, and whatever finds it again (``inbox_rescan``, the watcher's rescans,
``mediflux ingest``) sends it here again. The idempotency key is the ingestion one, (owner, SHA-256 of the
uploaded bytes): a photo already stored for its owner is not OCRed again, only removed (a duplicate when
it is another file; kept at its row's ``processed_path`` when its own first pass crashed before the exit); a
job lock per key (:mod:`workspace`) makes the same content OCRed by one process at a time. Reads, owner, exits from
the inbox and quarantine are ingestion's own (``worker.ingest``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

from models import Document, User
from worker import metrics
from worker.config import Settings
from worker.dirfd import Folders
from worker.errors import safe_error
from worker.filenames import ref
from worker.ingest.batch import ingest_batch, store_ocred
from worker.ingest.files import TRANSIENT_ERRNOS, Gone, Landed, Refused, Skipped, Transient, read_landed
from worker.ingest.leaving import quarantine_file
from worker.ingest.owner import owner_of
from worker.ingest.parsed import ParsedDocument
from worker.ingest.report import IngestReport
from worker.ocr import workspace
from worker.ocr.assemble import assemble
from worker.ocr.run import OcrRefused, run_child
from worker.ocr.sniff import HEAD_BYTES, media_kind
from worker.ocr.tesseract import TesseractMissing
from worker.submissions import ledger
from worker.triggers import NO_QUEUE, Triggers

log = logging.getLogger("mediflux.ocr")
_started = threading.Lock()
_cleaned: set[str] = set()
_running: dict[int, threading.BoundedSemaphore] = {}
_waiting = [0]  # threads waiting for a place (at most one)
_deferred: OrderedDict[tuple[str, ...], int] = OrderedDict()  # keys whose task found no place → its attempt


WAIT_SECONDS = 60.0
# Refusals a file still being written causes (cut short): a young file gets ingestion's grace period for them.
PARTIAL_WRITE_REASONS = frozenset({"truncated_image", "invalid_image", "invalid_pdf"})


def try_begin(settings: Settings, keys: Sequence[str] = (), attempt: int = 0, wait: float = WAIT_SECONDS) -> bool:
    """Take one of this process's ``MEDIFLUX_OCR_PROCESSES`` OCR task places for ``keys``.

    One thread at a time may wait for a place (up to ``wait`` seconds), so the pool starts the next document
    the moment one ends; any other finds them taken: its keys are *deferred* (the next thread to finish a document
    takes them at once, :func:`next_or_end`) and False is returned, so the consumer's remaining threads stay free
    to ingest and analyse dropped OCR results while long scans are OCRed. The caller also puts its task back in
    the queue, later: a deferral lives in this process's memory only."""
    with _started:
        sem = _running.setdefault(settings.ocr_processes, threading.BoundedSemaphore(settings.ocr_processes))
        if sem.acquire(blocking=False):
            return True
        if _waiting[0] >= 1:
            _defer(keys, attempt)
            return False
        _waiting[0] += 1
    try:
        if sem.acquire(timeout=wait):
            return True
    finally:
        with _started:
            _waiting[0] -= 1
    with _started:
        if sem.acquire(blocking=False):
            return True
        _defer(keys, attempt)
        return False


def _defer(keys: Sequence[str], attempt: int) -> None:
    if keys and tuple(keys) not in _deferred:
        _deferred[tuple(keys)] = attempt


def next_or_end(settings: Settings) -> tuple[list[str], int] | None:
    """For the thread holding a place, once its document is done: the oldest deferred keys and their attempt
    (it keeps the place and OCRs them now: no core waits for a put-back task), or None when nothing is deferred,
    the place given back."""
    with _started:
        if _deferred:
            keys, attempt = _deferred.popitem(last=False)
            return list(keys), attempt
        _running[settings.ocr_processes].release()
        return None


def end(settings: Settings) -> None:
    """Give the place back without looking at deferred work (the holder's document raised)."""
    _running[settings.ocr_processes].release()


def clean_once(settings: Settings) -> None:
    """At a process's first OCR: remove the job folders a killed process left (never a live one's)."""
    with _started:
        if str(settings.home) in _cleaned:
            return
        _cleaned.add(str(settings.home))
    removed = workspace.clean_stale(settings)
    if removed:
        log.info("removed %d OCR job folders left by a crash", removed)


def ocr_bytes(data: bytes, settings: Settings, owner: str | None = None) -> ParsedDocument:
    """OCR an image or PDF held in memory, storing nothing (``mediflux ocr``, the benchmarks): the same child,
    limits and parsers as the stage. ValueError if it is not an image or PDF; OcrRefused for bad input."""
    kind = media_kind(data[:HEAD_BYTES])
    if kind is None:
        raise ValueError("not an image or a PDF")
    with workspace.job(settings, workspace.job_key(owner or "preview", hashlib.sha256(data).hexdigest())) as folder:
        if folder is None:
            raise OcrRefused("busy", "the same file is being OCRed by another process")
        t0 = time.perf_counter()
        doc = assemble(run_child(data, kind, settings, folder), kind, settings)
        doc.extra["ocr"]["timings_ms"]["total"] = round((time.perf_counter() - t0) * 1000, 1)
    return doc


def ocr_paths(paths: list[str], settings: Settings, triggers: Triggers = NO_QUEUE) -> IngestReport:
    """OCR and store each path (one document each); see the module doc."""
    clean_once(settings)
    report = IngestReport()
    for path in paths:
        report.merge(ocr_file(path, settings, triggers))
    return report


def _already_stored(user_id: str | None, sha256: str) -> bool:
    query = Document.select(Document.id).where(Document.sha256 == sha256)
    owned = query.where(Document.user.is_null()) if user_id is None else query.join(User).where(User.user_id == user_id)
    return bool(owned.exists())


def ocr_file(path: str, settings: Settings, triggers: Triggers = NO_QUEUE) -> IngestReport:
    """One image or PDF from the inbox to a committed document (or quarantine, or left for a retry)."""
    report = IngestReport()
    with Folders(settings.inbox) as dirs:
        try:
            landed = read_landed(path, dirs, settings.max_file_mb * 1024 * 1024)
        except Gone:
            report.gone += 1
            return report
        except Skipped as exc:
            report.skipped += 1
            report.count(str(exc))
            return report
        except Transient as exc:
            report.retry.append(path)
            report.count(exc.reason)
            return report
        except Refused as exc:
            quarantine_file(path, None, exc.reason, str(exc), settings, report, exc.place)
            return report
        kind = media_kind(landed.data[:HEAD_BYTES])
        if kind is None:  # replaced by another kind of file since it was routed here: ingestion's
            dirs.close()
            return ingest_batch([path], settings, triggers)
        ledger.mark_ocr_at(landed.rel)  # a submitted upload is now being OCRed (``received`` → ``ocr``)
        _ocr_landed(path, landed, kind, settings, triggers, report)
    return report


def _ocr_landed(
    path: str, landed: Landed, kind: str, settings: Settings, triggers: Triggers, report: IngestReport
) -> None:
    sha256 = hashlib.sha256(landed.data).hexdigest()
    user_id = owner_of(landed.user_id, None)
    if _already_stored(user_id, sha256):
        # Only the inbox exit is left to do (removal, a duplicate trace when it is another file): the stored
        # row is found by its key, this placeholder is never inserted.
        report.merge(store_ocred(landed, sha256, ParsedDocument(kind, []), user_id, settings, triggers))
        return
    with workspace.job(settings, workspace.job_key(user_id, sha256)) as folder:
        if folder is None:  # the same content is being OCRed by another task: it stays, a rescan finds it
            report.skipped += 1
            report.count("ocr_in_progress")
            return
        t0 = time.perf_counter()
        try:
            result = run_child(landed.data, kind, settings, folder)
        except OcrRefused as exc:
            if exc.reason in PARTIAL_WRITE_REASONS and time.time() - landed.mtime < settings.ingest_grace_seconds:
                # maybe still being written (as ingestion does for a young text file): retried, not quarantined
                log.info("OCR of %s left for a retry (young file): %s", ref(path), exc.reason)
                report.retry.append(path)
                report.count("young_" + exc.reason)
                return
            log.warning("OCR refused %s: %s", ref(path), exc.reason)
            quarantine_file(path, landed, exc.reason, str(exc), settings, report, owner=user_id)
            return
        except TesseractMissing as exc:
            log.error("OCR unavailable, %s left in the inbox: %s", ref(path), exc)
            report.retry.append(path)
            report.count("ocr_unavailable")
            return
        except OSError as exc:
            if exc.errno not in TRANSIENT_ERRNOS:
                raise
            log.warning("OCR of %s left for a retry: %s", ref(path), safe_error(exc).split(":")[0])
            report.retry.append(path)
            report.count("ocr_transient")
            return
        if landed.place is not None and landed.place.holds_it() is None:
            # removed while it was OCRed (erase-user, an operator): nothing to store for it any more
            report.gone += 1
            return
        doc = assemble(result, kind, settings)
        seconds = time.perf_counter() - t0
        doc.extra["ocr"]["timings_ms"]["total"] = round(seconds * 1000, 1)
        metrics.record_ocr([p["source"] for p in doc.extra["ocr"]["pages"]], seconds)
    report.merge(store_ocred(landed, sha256, doc, user_id, settings, triggers))
