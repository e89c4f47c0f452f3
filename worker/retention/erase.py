"""Per-user erasure (GDPR art. 17): ``mediflux erase-user`` and the ``erase_user`` task.

Removes the user's files (inbox/<id>/, processed/<id>/, processed copies the
rows point at, quarantine entries whose sidecar names the user), then their
rows (cache rows whose params carry the id, pathway decisions, pathways,
sessions, the session summary, documents, the user row last), each in short
chunks, then the queue's waiting tasks that name the user (:mod:`worker.queuescrub`).
Every step deletes by condition, so it is idempotent: a SIGKILL midway
and a re-run end with nothing left. Progress lives in ``erasure_requests``
under the user's key (:func:`worker.userkeys.user_key`, an HMAC), never the id;
the ``erasure_backlog`` job finds unfinished requests and rediscovers the id
from what is left (user row, folder names, sidecars). SQLite runs with
``secure_delete=on`` (models.database, and the SQLite queue: worker.queue), and
the erasure ends with TRUNCATE checkpoints of the database and the queue, so
neither file nor WAL keeps the user's identifiers or text; a long reader delays
that last step (state ``flush_pending``), it never skips it. The queue task
carries the request's row id only (:func:`request_erasure`, :func:`erase_request`).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import peewee
from huey import Huey

from models import (
    AccessLog,
    ApiCache,
    CarePathway,
    Document,
    ErasureRequest,
    PathwayDecision,
    QuerySession,
    SessionSummary,
    Submission,
    User,
    WebhookDelivery,
    db,
)
from models.access import ERASED_ACTOR_PREFIX
from models.clock import utcnow
from models.rows import tuples
from worker import metrics, quarantine, queuescrub, userkeys
from worker.access.trail import record_once
from worker.config import Settings
from worker.errors import safe_error
from worker.ingest import tokens
from worker.periodic import JobContext
from worker.retention import files
from worker.retention.chunks import DEFAULT_CHUNK, delete_chunked, short_transaction
from worker.retention.paths import user_dir
from worker.retention.space import checkpoint_truncate
from worker.userids import InvalidUserId, is_valid_user_id, validate_user_id

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


def _start(settings: Settings, user_id: str, key: str) -> ErasureRequest:
    now = utcnow()
    with short_transaction():
        if not ErasureRequest.select().where(ErasureRequest.user_key == key).exists():
            # An older record of the same user, keyed the old way: it becomes this one (one row per user).
            old = _old_keys(settings, user_id)
            ErasureRequest.update(user_key=key, key_scheme="hmac").where(ErasureRequest.user_key.in_(old)).execute()
        (
            ErasureRequest.insert(user_key=key, state="running", requested_at=now, updated_at=now)
            .on_conflict_ignore()
            .execute()
        )
        ErasureRequest.update(
            state="running", attempts=ErasureRequest.attempts + 1, updated_at=now, finished_at=None
        ).where(ErasureRequest.user_key == key).execute()
    return ErasureRequest.get(ErasureRequest.user_key == key)


def _old_keys(settings: Settings, user_id: str) -> list[str]:
    """Keys an erasure record of ``user_id`` made before migration 0010 may carry (plain, or rewrapped)."""
    return [userkeys.legacy_key(user_id), userkeys.lookup_keys(settings, user_id)[1]]


def _keys(settings: Settings, user_id: str) -> set[str]:
    return {userkeys.user_key(settings, user_id), *_old_keys(settings, user_id)}


def rewrap_legacy_keys(settings: Settings) -> int:
    """Rewrap records keyed by the old plain SHA-256 under the secret (no longer dictionary-recoverable)."""
    rewrapped = 0
    for row_id, old in tuples(
        ErasureRequest.select(ErasureRequest.id, ErasureRequest.user_key).where(ErasureRequest.key_scheme == "sha256")
    ):
        new = userkeys.rewrap_legacy(settings, old)
        rewrapped += (
            ErasureRequest.update(user_key=new, key_scheme="hmac")
            .where((ErasureRequest.id == row_id) & (ErasureRequest.key_scheme == "sha256"))
            .execute()
        )
    return rewrapped


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


def inbox_keys(settings: Settings, user_id: str) -> list[str]:
    """Opaque keys (:mod:`worker.ingest.tokens`) of the files in the user's inbox folder, as ingest tasks carry them."""
    folder = user_dir(settings.inbox, user_id)
    if not folder.is_dir():
        return []
    paths = [str(p) for p in folder.rglob("*") if not p.is_dir()]
    return [key for key in (tokens.key_of(settings, p) for p in paths) if key is not None]


def _erase_rows(user_id: str, user: User | None, chunk: int, counts: dict[str, int], save: Callable[[], None]) -> None:
    cache = 0
    for ids in cache_rows_of(user_id, chunk):
        if ids:
            cache += ApiCache.delete().where(ApiCache.id.in_(ids)).execute()
    counts["api_cache"] = counts.get("api_cache", 0) + cache
    # Webhook deliveries carry no user id: they are the user's through their submissions, so they go first.
    theirs = Submission.select(Submission.id).where(Submission.user_id == user_id)
    hooks = delete_chunked(WebhookDelivery, WebhookDelivery.id, WebhookDelivery.submission_id.in_(theirs), chunk=chunk)
    counts["webhook_deliveries"] = counts.get("webhook_deliveries", 0) + hooks.deleted
    # Submissions name the user by id, with or without a user row (one may exist before ingestion creates it).
    stats = delete_chunked(Submission, Submission.id, Submission.user_id == user_id, chunk=chunk)
    counts["submissions"] = counts.get("submissions", 0) + stats.deleted
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


def _pseudonymise_actor(user_id: str, key: str) -> int:
    """Traces of the reads this person made of others' data keep who, why and when, but not their id: the actor
    becomes ``erased:<key>`` (the one UPDATE the access log's trigger allows, migration 0016)."""
    actor = ERASED_ACTOR_PREFIX + key[:32]  # the actor column holds 64 characters
    return int(AccessLog.update(actor=actor).where(AccessLog.actor == user_id).execute())


def _check(settings: Settings, user_id: str) -> tuple[str, User | None]:
    validate_user_id(user_id)
    user = User.get_or_none(User.user_id == user_id)
    if user is not None and user.legal_hold:
        raise LegalHoldError("user is under legal hold: erasure refused until the hold is lifted")
    return userkeys.user_key(settings, user_id), user


Queue: TypeAlias = Huey | Callable[[], Huey] | None  # the queue, or how to open it once rows and files are gone


def _open(huey: Queue) -> Huey | None:
    return huey() if callable(huey) and not isinstance(huey, Huey) else huey


def request_erasure(settings: Settings, user_id: str) -> int:
    """Record that ``user_id`` is to be erased (the ledger) and return the request's id, which is all the queue
    task carries. Raises InvalidUserId or LegalHoldError (nothing recorded)."""
    key, _ = _check(settings, user_id)
    return int(_start(settings, user_id, key).id)


def erase_request(settings: Settings, request_id: int, *, huey: Queue = None) -> ErasureResult | None:
    """Carry out erasure request ``request_id`` (the queue task): the id is rediscovered from what is left.

    None when there is no such request. A done request is finished again (harmless: nothing is left).
    """
    request = ErasureRequest.get_or_none(ErasureRequest.id == request_id)
    if request is None:
        return None
    user_id = find_user_id(settings, request.user_key)
    if user_id is None:  # nothing left that names the user: only the flush may be missing
        return _flush(request.user_key, dict(request.counts or {}), _open(huey))
    return erase_user(settings, user_id, huey=huey)


def erase_user(settings: Settings, user_id: str, *, chunk: int = DEFAULT_CHUNK, huey: Queue = None) -> ErasureResult:
    """Erase everything held about ``user_id`` (see module doc). Idempotent; safe to re-run after a crash.

    ``huey``: the queue whose waiting tasks naming the user are dropped and whose file is flushed, or a
    function opening it, called only once rows and files are gone (None: a process without a queue; the task,
    the ``erasure_backlog`` job and the CLI pass theirs).
    Raises InvalidUserId (nothing touched) or LegalHoldError (nothing touched).
    """
    key, user = _check(settings, user_id)
    record_once(settings, db.obj, [user_id], "erasure", channel="erasure", purpose="erasure")  # kept: docs/privacy.md
    rewrap_legacy_keys(settings)
    request = _start(settings, user_id, key)
    counts: dict[str, int] = {k: int(v) for k, v in (request.counts or {}).items()}
    try:
        keys = inbox_keys(settings, user_id)  # the queue's opaque names of the user's inbox files
        found = files.FileCount()
        _erase_files(settings, user_id, user, found)
        counts["files"] = counts.get("files", 0) + found.files
        _record(key, counts)
        _erase_rows(user_id, user, chunk, counts, lambda: _record(key, counts))
        counts["access_log_actor"] = counts.get("access_log_actor", 0) + _pseudonymise_actor(user_id, key)
        queue = _open(huey)
        if queue is not None:
            counts["queue_tasks"] = counts.get("queue_tasks", 0) + queuescrub.purge_tasks(queue, user_id, keys)
            _record(key, counts)
    except Exception as exc:
        _record_failure(key, exc)
        raise
    return _flush(key, counts, queue)


def _record_failure(key: str, exc: BaseException) -> None:
    log.warning("erasure %s failed: %s (re-run or wait for erasure_backlog)", key[:12], safe_error(exc))
    try:
        ErasureRequest.update(last_error=safe_error(exc), updated_at=utcnow()).where(
            ErasureRequest.user_key == key
        ).execute()
    except peewee.DatabaseError:
        pass  # e.g. the disk is full: the request row still says "running", the backlog retries


def _flush(key: str, counts: dict[str, int], huey: Huey | None = None) -> ErasureResult:
    """Mark done, then truncate the WALs of the database and the queue (secure_delete already zeroed the pages
    in the files)."""
    now = utcnow()
    _record(key, counts, state="flush_pending", last_error=None)
    queue_flushed = huey is None or queuescrub.flush(huey)
    if not checkpoint_truncate(db.obj) or not queue_flushed:
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
        if key in _keys(settings, candidate):
            return candidate
    for base in (settings.inbox, settings.home / "processed"):
        for folder in files.user_folders(base):
            if is_valid_user_id(folder.name) and key in _keys(settings, folder.name):
                return folder.name
    for entry in quarantine.entries(settings.home):
        if entry.user_id and key in _keys(settings, entry.user_id):
            return entry.user_id
    return _in_cache_params(settings, key)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _in_cache_params(settings: Settings, key: str, chunk: int = DEFAULT_CHUNK) -> str | None:
    """Last resort: a user known only through cache params (no row, no file) — every id-like value is tried."""
    last = 0
    while True:
        rows = list(
            ApiCache.select(ApiCache.id, ApiCache.params).where(ApiCache.id > last).order_by(ApiCache.id).limit(chunk)
        )
        if not rows:
            return None
        last = rows[-1].id
        for row in rows:
            for value in _strings(row.params):
                if is_valid_user_id(value) and key in _keys(settings, value):
                    return value


def resume_pending(settings: Settings, huey: Huey | None = None) -> dict[str, int]:
    """Finish every erasure left unfinished (crash, full disk, long reader). Used by the backlog job."""
    resumed = flushed = failed = 0
    rewrap_legacy_keys(settings)
    for request in ErasureRequest.select().where(ErasureRequest.state != "done"):
        user_id = find_user_id(settings, request.user_key)
        try:
            if user_id is not None:
                erase_user(settings, user_id, huey=huey)
                resumed += 1
            elif _flush(request.user_key, dict(request.counts or {}), huey).state == "done":
                flushed += 1  # nothing left anywhere: only the checkpoint was missing
        except (InvalidUserId, LegalHoldError, peewee.DatabaseError, OSError) as exc:
            failed += 1
            log.warning("erasure %s not resumed: %s", request.user_key[:12], safe_error(exc))
    return {"resumed": resumed, "flushed": flushed, "failed": failed}


def run_backlog(ctx: JobContext) -> dict[str, Any]:
    """The ``erasure_backlog`` periodic job."""
    return resume_pending(ctx.settings, ctx.huey)


def erased_at(settings: Settings, user_id: str) -> _dt.datetime | None:
    """When ``user_id`` was last fully erased (None if never), from its keys (old ones included)."""
    rows = ErasureRequest.select(ErasureRequest.finished_at).where(
        ErasureRequest.user_key.in_(sorted(_keys(settings, user_id))) & (ErasureRequest.state == "done")
    )
    times = [at for (at,) in tuples(rows) if at is not None]
    return max(times) if times else None
