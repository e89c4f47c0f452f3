"""What each dashboard page shows, as plain dicts: counts, times, ids and error types only.

Queue depth, periodic jobs, cache health and process liveness come from :mod:`worker.opstate` (the same
numbers as ``mediflux status``, the doctor and the metrics); task events and in-flight tasks from
``huey.contrib.stats`` (written by the consumer into the data database); the rest from the ledger tables.
huey's stats tables are read defensively: a consumer that never ran has written none.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

import peewee
from huey import Huey
from huey.contrib import stats as huey_stats

from models import Document, JobRun, RetentionAudit, Submission, User, db
from models.clock import utcnow
from models.json_paths import json_text
from models.rows import dicts, tuples
from models.submissions import STATES
from worker import opstate
from worker.bdpm.status import mirror_status
from worker.config import Settings
from worker.dashboard import quarantine
from worker.errors import error_type
from worker.logsetup import short_id
from worker.schedule import PERIODIC_JOBS

THROUGHPUT_MINUTES = 60


def _table_exists(name: str) -> bool:
    return db.obj.table_exists(name)


def task_stats(huey: Huey) -> huey_stats.HueyStats | None:
    """A reader over huey's stats tables in the data database, or None when the consumer writes none."""
    if not (
        _table_exists(huey_stats.HueyEvent._meta.table_name) and _table_exists(huey_stats.HueyInflight._meta.table_name)
    ):
        return None
    huey_stats.database.initialize(db.obj)  # huey's stats models use their own proxy: bind it to ours
    return huey_stats.HueyStats(huey, db.obj, create_tables=False)


def overview(settings: Settings, huey: Huey) -> dict[str, Any]:
    """Queue depth, task throughput and error rate, consumers' heartbeats, the watcher's lease."""
    try:
        queue = opstate.queue_state(huey)
    except Exception:  # noqa: BLE001 — a queue that cannot be reached shows empty cells, not a failed page
        queue = {"pending": None, "scheduled": None, "pending_by_priority": None}
    out: dict[str, Any] = {
        "queue": queue,
        "stats": None,
        "pending": huey_stats.pending_tasks(huey, 20),
        "ocr": opstate.ocr_state(settings),
        **opstate.processes(settings),
        "webhooks": opstate.webhook_deliveries(),
    }
    stats = task_stats(huey)
    if stats is not None:
        hour = stats.overview(3600)
        day = stats.overview(86400)
        out["stats"] = {
            "inflight": hour["inflight"],
            "hour": {k: hour[k] for k in ("completed", "errors", "retries", "error_rate")},
            "day": {k: day[k] for k in ("completed", "errors", "retries", "error_rate")},
            "throughput": stats.throughput(THROUGHPUT_MINUTES),
            "tasks": [
                {k: r[k] for k in ("task", "executed", "completed", "errors", "retries", "avg")}
                for r in stats.task_breakdown()
            ],
        }
    return out


def documents(settings: Settings, now: _dt.datetime | None = None) -> dict[str, Any]:
    """Documents per hour (last 24 h), by analysed type and by status; the quarantine list."""
    now = now or utcnow()
    start = now.replace(minute=0, second=0, microsecond=0) - _dt.timedelta(hours=23)
    per_hour = [0] * 24
    for (created,) in tuples(Document.select(Document.created_at).where(Document.created_at >= start)):
        slot = int((created - start).total_seconds() // 3600)
        if 0 <= slot < 24:
            per_hour[slot] += 1
    doc_type = json_text(Document.analysis, "document_type")
    by_type = {
        (t or "not analysed"): n
        for t, n in tuples(Document.select(doc_type, peewee.fn.COUNT(Document.id)).group_by(doc_type))
    }
    latest = latest_documents()
    entries = quarantine.list_entries(settings)
    return {
        "total": Document.select().count(),
        "hours": [(start + _dt.timedelta(hours=i)).strftime("%H:00") for i in range(24)],
        "per_hour": per_hour,
        "by_type": dict(sorted(by_type.items())),
        "by_status": opstate.documents_by_status(),
        "latest": latest,
        "quarantine": entries,
        "submissions": submissions(),
        # Whose data the page shows (never rendered): the server traces these reads in the access log.
        "shown": {
            "documents": [d["owner"] for d in latest if d["owner"]],
            "quarantine": [e.user_id for e in entries if e.user_id],
        },
    }


def submissions(limit: int = 20) -> dict[str, Any]:
    """Submissions by state and the newest ones: an id prefix, state, reason and age (no user, no file name)."""
    by_state = dict(
        tuples(Submission.select(Submission.state, peewee.fn.COUNT(Submission.id)).group_by(Submission.state))
    )
    query = (
        Submission.select(Submission.id, Submission.origin, Submission.state, Submission.reason, Submission.updated_at)
        .order_by(Submission.created_at.desc())
        .limit(limit)
    )
    recent = [
        {
            "id": r["id"][:6],
            "origin": r["origin"],
            "state": r["state"],
            "reason": r["reason"] or "",
            "updated": r["updated_at"].isoformat(),
        }
        for r in dicts(query)
    ]
    return {"by_state": {state: by_state.get(state, 0) for state in STATES}, "recent": recent}


def latest_documents(limit: int = 20) -> list[dict[str, Any]]:
    """The newest documents by id and sha256 prefix (never file name, owner or text; ``owner`` is for the
    access log only)."""
    doc_type = json_text(Document.analysis, "document_type")
    query = (
        Document.select(
            Document.id,
            Document.sha256,
            Document.format,
            Document.status,
            Document.created_at,
            doc_type.alias("doc_type"),
            User.user_id.alias("owner"),
        )
        .join(User, peewee.JOIN.LEFT_OUTER, on=(Document.user == User.id))
        .order_by(Document.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": r["id"],
            "sha256": short_id(r["sha256"]),
            "format": r["format"],
            "status": r["status"],
            "type": r["doc_type"] or "not analysed",
            "stored": r["created_at"].isoformat(),
            "owner": r["owner"],
        }
        for r in dicts(query)
    ]


def cache(now: _dt.datetime | None = None) -> list[dict[str, Any]]:
    """Per source with entries or counts: :func:`worker.opstate.cache_health`, with the source's name."""
    return [{"source": source, **health} for source, health in opstate.cache_health((), now).items()]


def jobs(runs_per_job: int = 24) -> list[dict[str, Any]]:
    """Each periodic job's state (:func:`worker.opstate.periodic_jobs`, last error as its type) and recent
    durations."""
    out = []
    for job in opstate.periodic_jobs(PERIODIC_JOBS):
        recent = (
            JobRun.select(JobRun.duration_ms, JobRun.ok)
            .where(JobRun.job == job["name"])
            .order_by(JobRun.started_at.desc())
            .limit(runs_per_job)
        )
        job["recent"] = [(r.duration_ms or 0, bool(r.ok)) for r in reversed(list(recent))]
        job["last_error"] = error_type(job["last_error"])
        out.append(job)
    return out


AUDIT_COLUMNS = (
    "started_at",
    "category",
    "cutoff",
    "deleted_rows",
    "deleted_files",
    "freed_bytes",
    "held_rows",
    "complete",
    "duration_ms",
)


def bdpm(settings: Settings) -> dict[str, Any]:
    """The local BDPM mirror's state (worker.bdpm.status, as `mediflux bdpm status`)."""
    return mirror_status(db, _dt.timedelta(seconds=settings.bdpm_sync_every))


def retention_audit(limit: int = 100) -> dict[str, Any]:
    """The retention audit log (counts and cutoffs only), newest first."""
    query = RetentionAudit.select().order_by(RetentionAudit.started_at.desc(), RetentionAudit.id.desc()).limit(limit)
    rows = [[_cell(getattr(row, column)) for column in AUDIT_COLUMNS] for row in query]
    return {"available": True, "columns": list(AUDIT_COLUMNS), "rows": rows}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if isinstance(value, _dt.datetime):
        return value.isoformat(timespec="seconds")
    return str(value)[:200]
