"""The one place a submission's state changes, each change inside the transaction that does the work.

Ingestion (:mod:`worker.ingest.batch`) calls :func:`pending_for` then :func:`record_landings` inside its one
transaction, quarantine calls :func:`record_rejected` before it moves the file (a crash in between leaves the
file in the inbox, quarantined again at the next pass, recorded once), analysis calls :func:`record_analysed`
in the transaction that saves the analysis, the OCR stage calls :func:`mark_ocr`, and the rediscovery
(:mod:`worker.submissions.recover`) calls :func:`record_lost` for a file gone for good. A file is matched to its
submission by where it landed (``inbox_path``), else by (user, SHA-256); a file dropped by hand that matches
nothing gets a submission of its own (``origin`` ``inbox``), so the history is complete.
"""

from __future__ import annotations

import datetime as _dt
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from models import db
from models.clock import utcnow
from models.durability import durable_atomic
from models.submissions import ANALYSED, DUPLICATE, FINAL, INGESTED, OCR, PENDING, RECEIVED, REJECTED, Submission
from worker.privacy import mask_text
from worker.submissions.reasons import reason_code
from worker.webhooks.outbox import enqueue as announce

ID_BYTES = 16  # 128 random bits: an id tells nothing and cannot be guessed


def new_id() -> str:
    """An opaque submission id (URL-safe, 22 characters)."""
    return secrets.token_urlsafe(ID_BYTES)


def where(rel: str) -> str:
    """How a landing place is stored and matched: NIRs masked (a hand-dropped file's name may carry one; an
    uploaded file's name is its submission id, which has none)."""
    return mask_text(rel)


@dataclass(frozen=True)
class Landing:
    """A file ingestion has read: where it landed (relative to the inbox, :func:`where`), its owner, content
    hash and size."""

    rel: str
    user_id: str | None
    sha256: str
    size: int


def pending_for(landings: Sequence[Landing]) -> dict[str, Submission]:
    """The pending submission of each landing (by path, else by owner and hash), oldest first; call in the
    ingesting transaction."""
    if not landings:
        return {}
    found: dict[str, Submission] = {}
    for sub in (
        Submission.select()
        .where(Submission.inbox_path.in_(sorted({x.rel for x in landings})) & Submission.state.in_(PENDING))
        .order_by(Submission.created_at)
    ):
        found.setdefault(str(sub.inbox_path), sub)
    rest = [x for x in landings if x.rel not in found and x.user_id]
    if rest:
        by_key: dict[tuple[str | None, str | None], Submission] = {}
        for row in (
            Submission.select()
            .where(
                Submission.user_id.in_(sorted({x.user_id for x in rest if x.user_id}))
                & Submission.sha256.in_(sorted({x.sha256 for x in rest}))
                & Submission.state.in_(PENDING)
            )
            .order_by(Submission.created_at)
        ):
            by_key.setdefault((row.user_id, row.sha256), row)
        taken = {sub.id for sub in found.values()}  # one landing per submission
        for x in rest:
            match = by_key.get((x.user_id, x.sha256))
            if match is not None and match.id not in taken:
                found[x.rel] = match
                taken.add(match.id)
    return found


def _finished(state: str, now: _dt.datetime) -> _dt.datetime | None:
    return now if state in FINAL else None


def record_landings(
    outcomes: Iterable[tuple[Landing, int, str]], found: dict[str, Submission], now: _dt.datetime | None = None
) -> None:
    """Each landing is now ``ingested`` (a new document) or ``duplicate`` (already stored for its owner).

    ``outcomes`` are (landing, document id, state); ``found`` is :func:`pending_for`'s answer. Call inside the
    transaction that stores the documents.
    """
    now = now or utcnow()
    new_rows = []
    for landing, document_id, state in outcomes:
        sub = found.get(landing.rel)
        if sub is not None:
            Submission.update(
                state=state,
                document=document_id,
                sha256=landing.sha256,
                size=landing.size,
                updated_at=now,
                finished_at=_finished(state, now),
            ).where((Submission.id == sub.id) & Submission.state.in_(PENDING)).execute()
            if state in FINAL:
                announce(db.obj, sub.id, state, None, document_id)  # the webhook, in this transaction
            continue
        new_rows.append(
            {
                "id": new_id(),
                "user_id": landing.user_id,
                "origin": "inbox",
                "filename": landing.rel.rsplit("/", 1)[-1],
                "sha256": landing.sha256,
                "size": landing.size,
                "inbox_path": landing.rel,
                "state": state,
                "document": document_id,
                "created_at": now,
                "updated_at": now,
                "finished_at": _finished(state, now),
            }
        )
    if new_rows:
        Submission.insert_many(new_rows).execute()
        for row in new_rows:
            if row["state"] in FINAL:
                announce(db.obj, str(row["id"]), str(row["state"]), None, row["document"])  # type: ignore[arg-type]


def record_rejected(rel: str | None, user_id: str | None, sha256: str | None, size: int | None, reason: str) -> None:
    """The file at ``rel`` can never become a document: its submission is ``rejected`` with ``reason``.

    Committed durably before the file moves to quarantine (the move is synced: so is the state that explains it).
    Recorded once: a file left in the inbox by a crash after this
    commit is quarantined again at the next pass, and finds its rejection already recorded.
    """
    now = utcnow()
    rel = None if rel is None else where(rel)
    with durable_atomic(db):
        sub = None
        if rel is not None:
            sub = (
                Submission.select(Submission.id)
                .where((Submission.inbox_path == rel) & Submission.state.in_(PENDING))
                .order_by(Submission.created_at)
                .first()
            )
        if sub is not None:
            Submission.update(state=REJECTED, reason=reason, updated_at=now, finished_at=now).where(
                Submission.id == sub.id
            ).execute()
            announce(db.obj, sub.id, REJECTED, reason_code(reason), None)
            return
        same = (Submission.inbox_path == rel) & (Submission.state == REJECTED) & (Submission.reason == reason)
        same &= Submission.sha256.is_null() if sha256 is None else Submission.sha256 == sha256
        if rel is not None and Submission.select(Submission.id).where(same).exists():
            return
        rejected_id = new_id()
        Submission.insert(
            id=rejected_id,
            user_id=user_id,
            origin="inbox",
            filename=rel.rsplit("/", 1)[-1] if rel else None,
            sha256=sha256,
            size=size,
            inbox_path=rel,
            state=REJECTED,
            reason=reason,
            created_at=now,
            updated_at=now,
            finished_at=now,
        ).execute()
        announce(db.obj, rejected_id, REJECTED, reason_code(reason), None)


def record_lost(submission_id: str, now: _dt.datetime | None = None) -> bool:
    """A pending submission whose file is gone for good is ``rejected`` (``lost``), announced in the same
    transaction; False if it was no longer pending (whoever took the file recorded its state first)."""
    now = now or utcnow()
    with db.atomic():
        changed = (
            Submission.update(state=REJECTED, reason="lost", updated_at=now, finished_at=now)
            .where((Submission.id == submission_id) & Submission.state.in_(PENDING))
            .execute()
        )
        if changed:
            announce(db.obj, submission_id, REJECTED, reason_code("lost"), None)
    return bool(changed)


def record_analysed(document_ids: Sequence[int], now: _dt.datetime | None = None) -> int:
    """Submissions of these documents that were ``ingested`` are ``analysed``; call in the saving transaction."""
    now = now or utcnow()
    ready = Submission.document.in_(list(document_ids)) & (Submission.state == INGESTED)
    announced = [(s.id, s.document_id) for s in Submission.select(Submission.id, Submission.document).where(ready)]
    count = int(Submission.update(state=ANALYSED, updated_at=now, finished_at=now).where(ready).execute())
    for submission_id, document_id in announced:  # the webhooks, in the caller's transaction
        announce(db.obj, submission_id, ANALYSED, None, document_id)
    return count


def mark_ocr(submission_id: str) -> bool:
    """The OCR stage has taken this submission (``received`` → ``ocr``); False if it was not ``received``.

    The OCR stage calls this in the transaction that records its start (or alone: it is one UPDATE).
    """
    return bool(
        Submission.update(state=OCR, updated_at=utcnow())
        .where((Submission.id == submission_id) & (Submission.state == RECEIVED))
        .execute()
    )


def mark_ocr_at(rel: str) -> bool:
    """:func:`mark_ocr` for the pending submission of the file at ``rel`` (relative to the inbox)."""
    return bool(
        Submission.update(state=OCR, updated_at=utcnow())
        .where((Submission.inbox_path == where(rel)) & (Submission.state == RECEIVED))
        .execute()
    )


__all__ = [
    "ANALYSED",
    "DUPLICATE",
    "INGESTED",
    "Landing",
    "mark_ocr",
    "mark_ocr_at",
    "new_id",
    "pending_for",
    "record_analysed",
    "record_landings",
    "record_lost",
    "record_rejected",
    "where",
]
