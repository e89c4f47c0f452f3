"""The app's side of a document: submit it, follow it, get the result (docs/documents.md).

``submit_document`` writes the file into ``<inbox>/<user_id>/`` the safe way — a temporary name the watcher
ignores (``<id>.tmp``), fsync, the submission row committed, rename to its final name, fsync of the folder —
and never parses it: ingestion does, and a malformed file becomes a ``rejected`` submission. A crash after
the commit and before the rename leaves a synced temporary file that :mod:`worker.submissions.recover` puts
in place. Limits (size, the type the first bytes announce) are checked before anything is written.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import peewee

from models import Document, User
from models.clock import utcnow
from models.submissions import FINAL, REJECTED, STATES, Submission
from worker.appdata import validate
from worker.appdata.backend import Backend
from worker.appdata.errors import FileTooLarge, InvalidInput, UnknownDocument, UnknownSubmission, UnsupportedType
from worker.appdata.views import Document as DocumentView
from worker.appdata.views import Submission as SubmissionView
from worker.ingest.sniff import head_type, hint_from_name
from worker.ocr.sniff import EXTENSIONS as MEDIA_EXTENSIONS
from worker.ocr.sniff import KINDS as MEDIA_KINDS
from worker.privacy import mask_text
from worker.submissions import ledger, reasons

TEXT_TYPES = ("json", "hocr", "alto", "tsv", "text", "markup")  # what ingestion reads as text
ACCEPTED = TEXT_TYPES + MEDIA_KINDS  # and images and PDFs, which the OCR stage reads
_EXT = {"json": ".json", "hocr": ".hocr", "alto": ".alto.xml", "tsv": ".tsv", "text": ".txt", "markup": ""} | {
    kind: "." + ext for kind, ext in MEDIA_EXTENSIONS.items()
}
_HINT_EXT = {"json": ".json", "hocr": ".hocr", "xml": ".xml", "alto": ".alto.xml", "tsv": ".tsv", "text": ".txt"}
_BINARY_DECLARED = ("image/", "application/pdf")
Data = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]


def temp_name(submission_id: str) -> str:
    """The name a submission's file is written under before its rename (ignored by the watcher: ``*.tmp``)."""
    return f"{submission_id}.tmp"


def _read_stream(stream: IO[bytes], want: int) -> bytes:
    """Up to ``want`` bytes, reading until EOF: an unbuffered file, a pipe or a socket returns fewer bytes per
    ``read()`` than asked, and one call would silently keep only the start of the upload."""
    chunks: list[bytes] = []
    got = 0
    while got < want:
        chunk = stream.read(want - got)
        if chunk is None:  # a non-blocking stream with nothing yet: not something an upload can be read from
            raise InvalidInput("data", "the file object would block")
        if not isinstance(chunk, bytes):
            raise InvalidInput("data", "expected a binary file object")
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _read(data: Data, limit: int) -> bytes:
    """The submitted bytes, read up to one byte past ``limit`` (FileTooLarge beyond it)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    elif isinstance(data, (str, os.PathLike)):
        try:
            with open(data, "rb") as f:
                raw = _read_stream(f, limit + 1)
        except OSError:
            raise InvalidInput("data", "the file cannot be read") from None
    elif hasattr(data, "read"):
        raw = _read_stream(data, limit + 1)
    else:
        raise InvalidInput("data", "expected bytes, a binary file object or a path")
    if len(raw) > limit:
        raise FileTooLarge(len(raw), limit)
    if not raw:
        raise InvalidInput("data", "empty file")
    return raw


def _final_name(submission_id: str, filename: str, found: str) -> str:
    """``<id><ext>``: the app's extension when it names a format ingestion knows (so a mismatch is caught),
    else the one of the type the content announces. The app's file name itself is never on disk."""
    hint = None if found in MEDIA_KINDS else hint_from_name(filename)  # an image's extension is its kind's
    return submission_id + (_HINT_EXT[hint] if hint else _EXT[found])


def _folder_fd(inbox: Path, user_id: str) -> int:
    """A descriptor on ``<inbox>/<user_id>/`` (created 0700 if missing), never through a symlink."""
    os.makedirs(inbox, exist_ok=True)  # as the watcher does: a missing inbox is created
    inbox_fd = os.open(inbox, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        try:
            os.mkdir(user_id, 0o700, dir_fd=inbox_fd)
        except FileExistsError:
            pass
        fd = os.open(user_id, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=inbox_fd)
        if not stat.S_ISDIR(os.fstat(fd).st_mode):  # pragma: no cover — O_DIRECTORY already says so
            os.close(fd)
            raise NotADirectoryError(user_id)
        return fd
    finally:
        os.close(inbox_fd)


def _write_temp(folder_fd: int, name: str, raw: bytes) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=folder_fd)
    try:
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Prepared:
    """A submission checked and read, not yet written: what the next steps need."""

    user_id: str
    filename: str
    content_type: str | None
    raw: bytes
    found: str
    sha256: str
    id: str
    final: str


def prepare(inbox: Path, max_bytes: int, user_id: str, data: Data, filename: str, content_type: str | None) -> Prepared:
    """Every check of a submission, before anything is written (no database: an async caller runs it in a thread)."""
    validate.user_id(user_id)
    validate.text("filename", filename, 255)
    if "\x00" in filename:
        raise InvalidInput("filename", "NUL character")
    validate.text("content_type", content_type, 128, required=False)
    raw = _read(data, max_bytes)
    found = head_type(raw[:8192])
    if found not in ACCEPTED:
        raise UnsupportedType(found)
    if content_type and content_type.lower().startswith(_BINARY_DECLARED) and found not in MEDIA_KINDS:
        raise UnsupportedType(content_type.split(";")[0].strip().lower())  # declared an image, is not one
    sid = ledger.new_id()
    sha256 = hashlib.sha256(raw).hexdigest()
    final = _final_name(sid, filename, found)
    return Prepared(user_id, mask_text(filename), content_type, raw, found, sha256, sid, final)  # no NIR kept


def first_submission(b: Backend, user_id: str, sha256: str) -> SubmissionView | None:
    """The submission that answers a submit of these bytes by this user (idempotency per user and SHA-256): the
    first one not rejected; else the latest rejection, unless its reason is one a retry may cure
    (``processing_failed``: "try again later"), for which None lets the same bytes make a new submission."""
    query = Submission.select().where((Submission.user_id == user_id) & (Submission.sha256 == sha256))
    rows = b.rows(query.order_by(Submission.created_at, Submission.id))
    live = next((row for row in rows if row.state != REJECTED), None)
    if live is not None:
        return view(b, live)
    if rows and reasons.reason_code(rows[-1].reason) != reasons.FAILED:
        return view(b, rows[-1])  # the same bytes are refused for the same reason again
    return None


def write_temp(inbox: Path, p: Prepared) -> None:
    """``<inbox>/<user>/<id>.tmp``, written and fsynced (the watcher ignores ``*.tmp``)."""
    folder = _folder_fd(inbox, p.user_id)
    try:
        _write_temp(folder, temp_name(p.id), p.raw)
    finally:
        os.close(folder)


def discard_temp(inbox: Path, p: Prepared) -> None:
    folder = _folder_fd(inbox, p.user_id)
    try:
        os.unlink(temp_name(p.id), dir_fd=folder)
    except FileNotFoundError:
        pass
    finally:
        os.close(folder)


def publish(inbox: Path, p: Prepared) -> None:
    """Rename the temporary file to its final name and fsync the folder (worker/fsync.py's rule, by descriptor).

    Once the row is committed the ledger owns the file: a consumer starting meanwhile may already have renamed the
    synced temporary file into place (worker/submissions/recover.py), and ingested it. A temporary file that is
    gone is therefore not an error: whoever took it has done this step."""
    folder = _folder_fd(inbox, p.user_id)
    try:
        try:
            os.rename(temp_name(p.id), p.final, src_dir_fd=folder, dst_dir_fd=folder)
        except FileNotFoundError:
            pass
        os.fsync(folder)
    finally:
        os.close(folder)


def record(b: Backend, p: Prepared) -> SubmissionView | None:
    """Commit the submission row (``received``); None when the same bytes were just submitted concurrently."""
    now = utcnow()
    try:
        with b.database.atomic():
            Submission.insert(
                id=p.id,
                user_id=p.user_id,
                origin="app",
                filename=p.filename,
                declared_type=p.content_type,
                sniffed_type=p.found,
                sha256=p.sha256,
                size=len(p.raw),
                inbox_path=f"{p.user_id}/{p.final}",
                state="received",
                created_at=now,
                updated_at=now,
            ).execute(b.database)
    except peewee.IntegrityError:  # the partial unique index: that other submission is the first
        return None
    return view(b, _get(b, p.user_id, p.id))


def submit_document(
    b: Backend, inbox: Path, max_bytes: int, user_id: str, data: Data, filename: str, content_type: str | None
) -> SubmissionView:
    """Write the file into the user's inbox folder and record its submission (idempotent per user and SHA-256).

    The steps in order (the async API runs the file steps in a thread, the database steps on its pool)."""
    p = prepare(inbox, max_bytes, user_id, data, filename, content_type)
    existing = first_submission(b, user_id, p.sha256)
    if existing is not None:
        return existing
    write_temp(inbox, p)
    try:
        recorded = record(b, p)
    except BaseException:
        discard_temp(inbox, p)
        raise
    if recorded is None:
        discard_temp(inbox, p)
        first = first_submission(b, user_id, p.sha256)
        assert first is not None  # the row that won the unique index
        return first
    publish(inbox, p)
    return recorded


def summary(analysis: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the app shows first of an analysis: the document's type, whether fields need review, medications."""
    if not isinstance(analysis, dict):
        return None
    meds = ((analysis.get("fields") or {}).get("medications")) or []
    return {
        "status": analysis.get("status", "done"),
        "document_type": analysis.get("document_type"),
        "document_type_confidence": analysis.get("document_type_confidence"),
        "needs_review": len(analysis.get("needs_review") or []),
        "medications": len(meds) if isinstance(meds, list) else 0,
        "bdpm_status": analysis.get("bdpm_status"),
    }


_UNREAD = object()


def view(b: Backend, row: Any, analysis: Any = _UNREAD) -> SubmissionView:
    """The app's view of a submission row (its document's analysis read unless given)."""
    code = reasons.reason_code(row.reason) if row.state == REJECTED else None
    if analysis is _UNREAD:
        analysis = None
        if row.state == "analysed" and row.document_id is not None:
            found = b.first(Document.select(Document.analysis).where(Document.id == row.document_id))
            analysis = found.analysis if found is not None else None
    return SubmissionView(
        id=row.id,
        state=row.state,
        document_id=row.document_id,
        reason=code,
        message=reasons.message(code) if code else None,
        summary=summary(analysis) if row.state == "analysed" else None,
        filename=row.filename,
        content_type=row.declared_type,
        sha256=row.sha256,
        size=row.size,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _get(b: Backend, user_id: str, submission_id: object) -> Any:
    if not isinstance(submission_id, str) or not 1 <= len(submission_id) <= 32:
        raise UnknownSubmission()
    row = b.first(Submission.select().where((Submission.id == submission_id) & (Submission.user_id == user_id)))
    if row is None:
        raise UnknownSubmission()
    return row


def document_status(b: Backend, user_id: str, submission_id: str) -> SubmissionView:
    """Where the submission is; another user's submission is :class:`UnknownSubmission`."""
    validate.user_id(user_id)
    return view(b, _get(b, user_id, submission_id))


def final_views(b: Backend, submission_ids: list[str]) -> dict[str, SubmissionView]:
    """Those of these submissions in a final state, as views (one query per 500 ids, analyses joined): the
    waiters' shared poll, which hands each waiter its answer without a query of its own."""
    done: dict[str, SubmissionView] = {}
    for start in range(0, len(submission_ids), 500):
        chunk = submission_ids[start : start + 500]
        query = (
            Submission.select(Submission, Document.analysis)
            .join(Document, peewee.JOIN.LEFT_OUTER, on=(Submission.document == Document.id))
            .where(Submission.id.in_(chunk) & Submission.state.in_(FINAL))
        )
        for row in b.rows(query.objects()):
            done[row.id] = view(b, row, analysis=getattr(row, "analysis", None))
    return done


def list_submissions(b: Backend, user_id: str, state: str | None = None, limit: int = 50) -> list[SubmissionView]:
    """The user's submissions, newest first (index ``submissions(user_id, created_at)``)."""
    validate.user_id(user_id)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 500:
        raise InvalidInput("limit", "expected 1-500")
    query = Submission.select().where(Submission.user_id == user_id)
    if state is not None:
        if state not in STATES:
            raise InvalidInput("state", f"expected one of {', '.join(STATES)}")
        query = query.where(Submission.state == state)
    query = query.order_by(Submission.created_at.desc(), Submission.id.desc()).limit(limit)
    return [view(b, row) for row in b.rows(query)]


def get_document(b: Backend, user_id: str, document_id: int) -> DocumentView:
    """One of the user's documents with pages, analysis and matched medications; any other is unknown."""
    validate.user_id(user_id)
    if not isinstance(document_id, int) or isinstance(document_id, bool):
        raise UnknownDocument(document_id)
    query = (
        Document.select(
            Document.id,
            Document.original_filename,
            Document.format,
            Document.pages,
            Document.analysis,
            Document.created_at,
        )
        .join(User, on=(Document.user == User.id))
        .where((Document.id == document_id) & (User.user_id == user_id))
    )
    row = b.first(query)
    if row is None:
        raise UnknownDocument(document_id)
    analysis = row.analysis if isinstance(row.analysis, dict) else None
    meds = ((analysis or {}).get("fields") or {}).get("medications") or []
    return DocumentView(
        id=row.id,
        original_filename=row.original_filename,
        format=row.format,
        pages=tuple(row.pages or ()),
        analysis=analysis,
        medications=tuple(m for m in meds if isinstance(m, dict)),
        created_at=row.created_at,
    )
