"""Right of access (GDPR art. 15): everything held about one user, as one JSON document.

``mediflux export-user USER_ID [--output FILE]``. Format ``mediflux.export/1``:
the profile, sessions and their summary, documents (text, pages, analysis),
care pathways with their decisions, cache entries whose params carry the id,
the files (inbox, processed copies, quarantine entries with their sidecars)
with sizes and SHA-256, the queue's waiting tasks that concern the user
(named by id, path or an opaque key of one of their inbox files), and the
access log's traces about the user (who read what kind of data, why, when).
Files are listed, not embedded: their text is already in the documents. Logs
never hold user ids, file names or text (docs/privacy.md), so there is nothing
to list there. The output file is written 0600 through a temporary file and a
rename, so a full disk leaves no half-written export behind. Every export is
itself traced in the access log (resource ``export``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from huey import Huey

from models import ApiCache, CarePathway, Document, PathwayDecision, QuerySession, SessionSummary, Submission, User, db
from models.clock import utcnow
from models.rows import tuples
from worker import quarantine, queuescrub
from worker.access import history
from worker.access.trail import record_once
from worker.config import Settings
from worker.retention import files
from worker.retention.erase import cache_rows_of, erased_at, inbox_keys
from worker.retention.paths import user_dir
from worker.userids import validate_user_id

FORMAT = "mediflux.export/1"


def _iso(value: _dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _file_entry(home: Path, path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return {
        "path": str(path.relative_to(home)) if path.is_relative_to(home) else str(path),
        "size": path.stat().st_size,
        "sha256": digest.hexdigest(),
    }


def _files_under(home: Path, folder: Path) -> list[dict[str, Any]]:
    if not folder.is_dir():
        return []
    return [_file_entry(home, p) for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()]


def _processed(settings: Settings, user_id: str, user: User | None) -> list[dict[str, Any]]:
    """The user's processed folder and every kept copy their documents point at (what erasure removes)."""
    listed = _files_under(settings.home, user_dir(settings.home / "processed", user_id))
    seen = {entry["path"] for entry in listed}
    if user is not None:
        for (meta,) in tuples(Document.select(Document.meta).where(Document.user == user.id)):
            path = files.processed_copy(settings.home, meta)
            if path is not None and path.is_file() and not path.is_symlink():
                entry = _file_entry(settings.home, path)
                if entry["path"] not in seen:
                    seen.add(entry["path"])
                    listed.append(entry)
    return listed


def _queue(huey: Huey | None, settings: Settings, user_id: str) -> list[dict[str, Any]] | None:
    if huey is None:
        return None  # this process was not given the queue: not looked at
    keys = inbox_keys(settings, user_id)
    return [
        {"where": item.where, "task": item.name, "arguments": item.args}
        for item in queuescrub.concerning(huey, user_id, keys)
    ]


def _files(settings: Settings, user_id: str, user: User | None) -> dict[str, list[dict[str, Any]]]:
    return {
        "inbox": _files_under(settings.home, user_dir(settings.inbox, user_id)),
        "processed": _processed(settings, user_id, user),
        "quarantine": [
            _quarantined(settings.home, e) for e in quarantine.entries(settings.home) if e.user_id == user_id
        ],
    }


def _quarantined(home: Path, entry: quarantine.Entry) -> dict[str, Any]:
    """A quarantine entry as listed (an orphan as ``missing``; a link or FIFO by size, never opened) + sidecar."""
    path = str(entry.path.relative_to(home))
    if entry.orphan:
        listed: dict[str, Any] = {"path": path, "missing": True}
    elif entry.path.is_file() and not entry.path.is_symlink():
        listed = _file_entry(home, entry.path)
    else:
        listed = {"path": path, "size": entry.size}
    return listed | {"sidecar": entry.sidecar}


def export_user(
    settings: Settings,
    user_id: str,
    huey: Huey | None = None,
    *,
    actor: str | None = None,
    purpose: str = "right_of_access",
) -> dict[str, Any]:
    """Everything held about ``user_id`` (empty lists and ``found: false`` when nothing is); the queue's
    waiting tasks when ``huey`` is given (``queue`` is None otherwise). Traced as read by ``actor`` (default:
    ``MEDIFLUX_ACCESS_ACTOR``, else ``operator``) for ``purpose``."""
    validate_user_id(user_id)
    record_once(settings, db.obj, [user_id], "export", channel="cli", actor=actor, purpose=purpose)
    user = User.get_or_none(User.user_id == user_id)
    cache_ids = [i for ids in cache_rows_of(user_id, 500) for i in ids]
    out: dict[str, Any] = {
        "format": FORMAT,
        "exported_at": _iso(utcnow()),
        "user_id": user_id,
        "found": user is not None,
        "erased_at": _iso(erased_at(settings, user_id)),
        "profile": None,
        "sessions": [],
        "session_summary": None,
        "documents": [],
        "care_pathways": [],
        "cache_entries": [
            {"source": c.source, "endpoint": c.endpoint, "params": c.params, "fetched_at": _iso(c.fetched_at)}
            for c in ApiCache.select().where(ApiCache.id.in_(cache_ids))
        ]
        if cache_ids
        else [],
        "files": _files(settings, user_id, user),
        "queue": _queue(huey, settings, user_id),
        "submissions": [
            {
                "id": s.id,
                "state": s.state,
                "reason": s.reason,
                "filename": s.filename,
                "content_type": s.declared_type,
                "sha256": s.sha256,
                "size": s.size,
                "document_id": s.document_id,
                "created_at": _iso(s.created_at),
                "updated_at": _iso(s.updated_at),
            }
            for s in Submission.select().where(Submission.user_id == user_id).order_by(Submission.created_at)
        ],
        "access_log": history.entries(settings, user_id),
    }
    if user is None:
        return out
    out["profile"] = {
        "profile": user.profile,
        "legal_hold": user.legal_hold,
        "created_at": _iso(user.created_at),
        "updated_at": _iso(user.updated_at),
    }
    out["sessions"] = [
        {"query_text": s.query_text, "intent": s.intent, "result": s.result, "created_at": _iso(s.created_at)}
        for s in QuerySession.select().where(QuerySession.user == user.id).order_by(QuerySession.id)
    ]
    summary = SessionSummary.get_or_none(SessionSummary.user == user.id)
    if summary is not None:
        out["session_summary"] = {
            "sessions": summary.sessions,
            "intents": summary.intents,
            "months": summary.months,
            "first_at": _iso(summary.first_at),
            "last_at": _iso(summary.last_at),
        }
    out["documents"] = [
        {
            "id": d.id,
            "original_filename": d.original_filename,
            "sha256": d.sha256,
            "format": d.format,
            "status": d.status,
            "created_at": _iso(d.created_at),
            "text": d.text,
            "pages": d.pages,
            "meta": d.meta,
            "analysis": d.analysis,
        }
        for d in Document.select().where(Document.user == user.id).order_by(Document.id)
    ]
    pathways = list(CarePathway.select().where(CarePathway.user == user.id).order_by(CarePathway.id))
    decisions: dict[int, list[dict[str, Any]]] = {}
    if pathways:
        for d in (
            PathwayDecision.select()
            .where(PathwayDecision.pathway.in_([p.id for p in pathways]))
            .order_by(PathwayDecision.id)
        ):
            decisions.setdefault(d.pathway_id, []).append(
                {"step": d.step, "decision": d.decision, "decided_at": _iso(d.decided_at)}
            )
    out["care_pathways"] = [
        {
            "condition": p.condition,
            "pathway": p.pathway,
            "created_at": _iso(p.created_at),
            "decisions": decisions.get(p.id, []),
        }
        for p in pathways
    ]
    return out


def write_export(data: dict[str, Any], output: Path) -> int:
    """Write ``data`` to ``output`` (0600) atomically; return its size. On error nothing is left behind."""
    output = output.absolute()
    fd, tmp = tempfile.mkstemp(prefix=".export-", dir=output.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return output.stat().st_size
