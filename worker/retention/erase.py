"""Per-user erasure (GDPR art. 17): ``mediflux erase-user`` and the ``erase_user`` task.

Removes the user's files (inbox/<id>/, processed/<id>/, processed copies the
rows point at, quarantine entries whose sidecar names the user), then their
rows (cache rows whose params carry the id, pathway decisions, pathways,
sessions, the session summary, documents, the user row last), each in short
chunks. Every step deletes by condition, so it is idempotent: a SIGKILL midway
and a re-run end with nothing left. Progress lives in ``erasure_requests``
under the SHA-256 key of the id, never the id; the ``erasure_backlog`` job finds
unfinished requests and rediscovers the id from what is left (user row, folder
names, sidecars). SQLite runs with ``secure_delete=on`` (models.database), and
the erasure ends with a TRUNCATE checkpoint so neither the database file nor
its WAL keeps the user's identifiers or text; a long reader delays that last
step (state ``flush_pending``), it never skips it.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import peewee

from models import (
    ApiCache,
    CarePathway,
    Document,
    ErasureRequest,
    PathwayDecision,
    QuerySession,
    SessionSummary,
    User,
    db,
)
from models.clock import utcnow
from models.rows import tuples
from worker import metrics, quarantine
from worker.access.trail import record_once
from worker.config import Settings
from worker.errors import safe_error
from worker.periodic import JobContext
from worker.retention import files
from worker.retention.chunks import DEFAULT_CHUNK, delete_chunked, short_transaction
from worker.retention.paths import user_dir, user_key
from worker.retention.space import checkpoint_truncate
from worker.userids import InvalidUserId, validate_user_id

log = logging.getLogger("mediflux.retention.erase")


class LegalHoldError(RuntimeError):
    """The user is under legal hold: erasure is refused (GDPR art. 17(3)(e)) until the hold is lifted."""


@dataclass
class ErasureResult:
    user_key: str
    state: str  # done, or flush_pending (rows and files gone; WAL not yet truncated)
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"user_key": self.user_key, "state": self.state, "counts": self.counts}


def _start(key: str) -> ErasureRequest:
    now = utcnow()
    with short_transaction():
        (
            ErasureRequest.insert(user_key=key, state="running", requested_at=now, updated_at=now)
            .on_conflict_ignore()
            .execute()
        )
        ErasureRequest.update(
            state="running", attempts=ErasureRequest.attempts + 1, updated_at=now, finished_at=None
        ).where(ErasureRequest.user_key == key).execute()
    return ErasureRequest.get(ErasureRequest.user_key == key)


def _record(key: str, counts: dict[str, int], **values: Any) -> None:
    ErasureRequest.update(counts=counts, updated_at=utcnow(), **values).where(ErasureRequest.user_key == key).execute()


def _carries(value: Any, user_id: str) -> bool:
    if isinstance(value, str):
        return value == user_id
    if isinstance(value, dict):
        return any(_carries(v, user_id) for v in value.values())
    if isinstance(value, list):
        return any(_carries(v, user_id) for v in value)
    return False


def cache_rows_of(user_id: str, chunk: int) -> Iterator[list[int]]:
    """Ids of api_cache rows whose params carry the user id as a value (LIKE pre-filter, exact check)."""
    pattern = "%" + json.dumps(user_id, ensure_ascii=False) + "%"
    candidate = peewee.Expression(ApiCache.params.cast("text"), peewee.OP.ILIKE, pattern)
    last = 0
    while True:
        rows = list(
            ApiCache.select(ApiCache.id, ApiCache.params)
            .where((ApiCache.id > last) & candidate)
            .order_by(ApiCache.id)
            .limit(chunk)
        )
        if not rows:
            return
        last = rows[-1].id
        yield [r.id for r in rows if _carries(r.params, user_id)]


def _erase_files(settings: Settings, user_id: str, user: User | None, count: files.FileCount) -> None:
    files.remove_tree(user_dir(settings.inbox, user_id), count)
    processed = settings.home / "processed"
    if user is not None:
        for (meta,) in tuples(Document.select(Document.meta).where(Document.user == user.id)):
            path = files.processed_copy(settings.home, meta)
            if path is not None:
                files.remove_file(path, count)
    files.remove_tree(user_dir(processed, user_id), count)
    for entry in quarantine.entries(settings.home):
        if entry.user_id == user_id:
            count.add_all(quarantine.remove(entry))


def _erase_rows(user_id: str, user: User | None, chunk: int, counts: dict[str, int], save: Callable[[], None]) -> None:
    cache = 0
    for ids in cache_rows_of(user_id, chunk):
        if ids:
            cache += ApiCache.delete().where(ApiCache.id.in_(ids)).execute()
    counts["api_cache"] = counts.get("api_cache", 0) + cache
    if user is None:
        return
    mine = CarePathway.select(CarePathway.id).where(CarePathway.user == user.id)
    steps: list[tuple[str, Any, peewee.Expression]] = [
        ("pathway_decisions", PathwayDecision, PathwayDecision.pathway.in_(mine)),
        ("care_pathways", CarePathway, CarePathway.user == user.id),
        ("sessions", QuerySession, QuerySession.user == user.id),
        ("session_summaries", SessionSummary, SessionSummary.user == user.id),
        ("documents", Document, Document.user == user.id),
        ("users", User, User.id == user.id),
    ]
    for name, model, where in steps:
        stats = delete_chunked(model, model.id, where, chunk=chunk)
        counts[name] = counts.get(name, 0) + stats.deleted
        save()


def erase_user(settings: Settings, user_id: str, *, chunk: int = DEFAULT_CHUNK) -> ErasureResult:
    """Erase everything held about ``user_id`` (see module doc). Idempotent; safe to re-run after a crash.

    Raises InvalidUserId (nothing touched) or LegalHoldError (nothing touched).
    """
    validate_user_id(user_id)
    key = user_key(user_id)
    user = User.get_or_none(User.user_id == user_id)
    if user is not None and user.legal_hold:
        raise LegalHoldError("user is under legal hold: erasure refused until the hold is lifted")
    record_once(settings, db.obj, [user_id], "erasure", channel="erasure", purpose="erasure")  # kept: docs/privacy.md
    request = _start(key)
    counts: dict[str, int] = {k: int(v) for k, v in (request.counts or {}).items()}
    try:
        found = files.FileCount()
        _erase_files(settings, user_id, user, found)
        counts["files"] = counts.get("files", 0) + found.files
        _record(key, counts)
        _erase_rows(user_id, user, chunk, counts, lambda: _record(key, counts))
    except Exception as exc:
        _record_failure(key, exc)
        raise
    return _flush(key, counts)


def _record_failure(key: str, exc: BaseException) -> None:
    log.warning("erasure %s failed: %s (re-run or wait for erasure_backlog)", key[:12], safe_error(exc))
    try:
        ErasureRequest.update(last_error=safe_error(exc), updated_at=utcnow()).where(
            ErasureRequest.user_key == key
        ).execute()
    except peewee.DatabaseError:
        pass  # e.g. the disk is full: the request row still says "running", the backlog retries


def _flush(key: str, counts: dict[str, int]) -> ErasureResult:
    """Mark done, then truncate the WAL (secure_delete already zeroed the pages in the database file)."""
    now = utcnow()
    _record(key, counts, state="flush_pending", last_error=None)
    if not checkpoint_truncate(db.obj):
        log.warning("erasure %s: rows and files gone; WAL checkpoint blocked by a reader, retried later", key[:12])
        return ErasureResult(key, "flush_pending", counts)
    _record(key, counts, state="done", finished_at=now)
    for category, count in counts.items():
        metrics.record_deleted("erase", category, count)
    checkpoint_truncate(db.obj)  # best effort: the "done" update's pages hold no personal data
    log.info("erasure %s done: %s", key[:12], ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    return ErasureResult(key, "done", counts)


def find_user_id(settings: Settings, key: str) -> str | None:
    """Rediscover the id of an unfinished erasure from what is left: user row, folder names, sidecars."""
    for (candidate,) in User.select(User.user_id).tuples().iterator():
        if user_key(candidate) == key:
            return candidate
    for base in (settings.inbox, settings.home / "processed"):
        for folder in files.user_folders(base):
            if user_key(folder.name) == key:
                return folder.name
    for entry in quarantine.entries(settings.home):
        if entry.user_id and user_key(entry.user_id) == key:
            return entry.user_id
    return None


def resume_pending(settings: Settings) -> dict[str, int]:
    """Finish every erasure left unfinished (crash, full disk, long reader). Used by the backlog job."""
    resumed = flushed = failed = 0
    for request in ErasureRequest.select().where(ErasureRequest.state != "done"):
        user_id = find_user_id(settings, request.user_key)
        try:
            if user_id is not None:
                erase_user(settings, user_id)
                resumed += 1
            elif _flush(request.user_key, dict(request.counts or {})).state == "done":
                flushed += 1  # nothing left anywhere: only the checkpoint was missing
        except (InvalidUserId, LegalHoldError, peewee.DatabaseError, OSError) as exc:
            failed += 1
            log.warning("erasure %s not resumed: %s", request.user_key[:12], safe_error(exc))
    return {"resumed": resumed, "flushed": flushed, "failed": failed}


def run_backlog(ctx: JobContext) -> dict[str, Any]:
    """The ``erasure_backlog`` periodic job."""
    return resume_pending(ctx.settings)


def erased_at(user_id: str) -> _dt.datetime | None:
    """When ``user_id`` was last fully erased (None if never), from its key."""
    row = ErasureRequest.get_or_none((ErasureRequest.user_key == user_key(user_id)) & (ErasureRequest.state == "done"))
    return row.finished_at if row else None
