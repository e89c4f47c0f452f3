"""Retention pruning (periodic, daily; also ``mediflux prune [--dry-run]``): apply the policies.

Per category: compute the cutoff once, skip everything of users under legal
hold, delete in short chunks (rows) or one by one (files) until done or out of
time, and record an audit row (category, cutoff, counts, duration — no personal
data). A dry run only counts. Order matters little: each category is
independent and resumable, and a document's processed file goes before its row.
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import peewee

from models import (
    AccessLog,
    ApiCache,
    CarePathway,
    Document,
    PathwayDecision,
    QuerySession,
    RetentionAudit,
    SessionSummary,
    Submission,
    User,
    WebhookDelivery,
    db,
)
from models.clock import utcnow
from models.rows import tuples
from models.submissions import FINAL
from worker import metrics, quarantine
from worker.config import Settings
from worker.periodic import JobContext
from worker.retention import files
from worker.retention.chunks import DEFAULT_CHUNK, delete_chunked, out_of_time
from worker.retention.sweep import expired_cache
from worker.userkeys import user_key

log = logging.getLogger("mediflux.retention.prune")
CATEGORIES = (
    "sessions",
    "documents",
    "processed",
    "quarantine",
    "api_cache",
    "pathways",
    "huey_events",
    "submissions",
    "webhooks",
    "access_log",
)
# No column list: peewee then resolves ``table.c.<name>`` (typed), which explicit columns turn off.
HUEY_EVENT = peewee.Table("huey_event")  # columns used: id, ts
HUEY_INFLIGHT = peewee.Table("huey_inflight")  # columns used: task_id, started


@dataclass
class CategoryResult:
    """What one category's prune did (or would do, in a dry run). No personal data."""

    category: str
    cutoff: _dt.datetime
    rows: int = 0
    files: int = 0
    bytes: int = 0
    held: int = 0
    complete: bool = True
    duration_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cutoff": self.cutoff.isoformat()}


@dataclass
class _Run:
    settings: Settings
    now: _dt.datetime
    dry_run: bool
    deadline: float | None
    chunk: int
    held_ids: set[str]

    def cutoff(self, category: str) -> _dt.datetime:
        return self.settings.retention.cutoff(category, self.now)


def _held() -> peewee.SelectQuery:
    return User.select(User.id).where(User.legal_hold == True)


def _not_held(field: peewee.ForeignKeyField) -> peewee.Expression:
    return field.is_null() | field.not_in(_held()) if field.null else field.not_in(_held())


def _rows(
    run: _Run,
    result: CategoryResult,
    model: Any,
    where: peewee.Expression,
    held_where: peewee.Expression | None,
    before_delete: Callable[[Sequence[Any]], None] | None = None,
) -> None:
    if held_where is not None:
        result.held = model.select().where(held_where).count()
    if run.dry_run:
        result.rows = model.select().where(where).count()
        return
    stats = delete_chunked(model, model.id, where, chunk=run.chunk, deadline=run.deadline, before_delete=before_delete)
    result.rows += stats.deleted
    result.complete = stats.complete


def _sessions(run: _Run, result: CategoryResult) -> None:
    old = QuerySession.created_at < result.cutoff
    summarize = _summarize if run.settings.retention.summarize_sessions else None
    _rows(
        run, result, QuerySession, old & _not_held(QuerySession.user), old & QuerySession.user.in_(_held()), summarize
    )


def _summarize(ids: Sequence[int]) -> None:
    """Fold these sessions into their users' summaries (same transaction as their deletion)."""
    per_user: dict[int, list[tuple[str | None, _dt.datetime]]] = {}
    query = QuerySession.select(QuerySession.user, QuerySession.intent, QuerySession.created_at).where(
        QuerySession.id.in_(list(ids))
    )
    for row in query:
        per_user.setdefault(row.user_id, []).append((row.intent, row.created_at))
    for user_id, rows in per_user.items():
        summary = SessionSummary.get_or_none(SessionSummary.user == user_id) or SessionSummary(user=user_id)
        intents, months = dict(summary.intents or {}), dict(summary.months or {})
        for intent, created in rows:
            intents[intent or "unknown"] = intents.get(intent or "unknown", 0) + 1
            month = created.strftime("%Y-%m")
            months[month] = months.get(month, 0) + 1
        times = [created for _, created in rows] + [t for t in (summary.first_at, summary.last_at) if t]
        summary.sessions = (summary.sessions or 0) + len(rows)
        summary.intents, summary.months = intents, months
        summary.first_at, summary.last_at, summary.updated_at = min(times), max(times), utcnow()
        summary.save()


def _documents(run: _Run, result: CategoryResult) -> None:
    old = Document.created_at < result.cutoff
    processed = files.FileCount()

    def remove_processed(ids: Sequence[int]) -> None:
        for (meta,) in tuples(Document.select(Document.meta).where(Document.id.in_(list(ids)))):
            _remove_processed_copy(run.settings, meta, processed)

    _rows(run, result, Document, old & _not_held(Document.user), old & Document.user.in_(_held()), remove_processed)
    result.files, result.bytes = processed.files, processed.bytes


def _remove_processed_copy(settings: Settings, meta: Any, count: files.FileCount) -> None:
    path = files.processed_copy(settings.home, meta)
    if path is not None:
        files.remove_file(path, count)


def _processed(run: _Run, result: CategoryResult) -> None:
    limit = result.cutoff.timestamp()
    count = files.FileCount()
    for folder in files.user_folders(run.settings.home / "processed"):
        if out_of_time(run.deadline):
            result.complete = False
            break
        held = folder.name in run.held_ids
        for path in sorted(p for p in folder.iterdir() if not p.is_dir()):
            if out_of_time(run.deadline):
                result.complete = False
                break
            arrived = files.arrived_at(path)
            if arrived is None or arrived >= limit:
                continue
            if held:
                result.held += 1
            elif run.dry_run:
                count.add(path.lstat().st_size)
            else:
                files.remove_file(path, count)
        if not run.dry_run and not held and (files.arrived_at(folder) or limit) < limit:
            try:
                folder.rmdir()  # an empty folder still carries the user id in its name
            except OSError:
                pass
    result.files, result.bytes = count.files, count.bytes


def _quarantine(run: _Run, result: CategoryResult) -> None:
    limit = result.cutoff.timestamp()
    count = files.FileCount()
    for entry in quarantine.entries(run.settings.home):
        if out_of_time(run.deadline):
            result.complete = False
            break
        if entry.arrived_at >= limit:
            continue
        if entry.user_id in run.held_ids:
            result.held += 1
        elif run.dry_run:
            count.add_all(size for size in (entry.size, entry.sidecar_size) if size is not None)
        else:
            count.add_all(quarantine.remove(entry))
    result.files, result.bytes = count.files, count.bytes


def _api_cache(run: _Run, result: CategoryResult) -> None:
    where = expired_cache(run.now, run.settings.retention)
    _rows(run, result, ApiCache, where, None)


def _pathways(run: _Run, result: CategoryResult) -> None:
    recent = PathwayDecision.select(PathwayDecision.id).where(
        (PathwayDecision.pathway == CarePathway.id) & (PathwayDecision.decided_at >= result.cutoff)
    )
    idle = (CarePathway.created_at < result.cutoff) & ~peewee.fn.EXISTS(recent)
    decisions = 0

    def delete_decisions(ids: Sequence[int]) -> None:
        nonlocal decisions
        decisions += PathwayDecision.delete().where(PathwayDecision.pathway.in_(list(ids))).execute()

    _rows(
        run,
        result,
        CarePathway,
        idle & _not_held(CarePathway.user),
        idle & CarePathway.user.in_(_held()),
        delete_decisions,
    )
    if run.dry_run:
        decisions = PathwayDecision.select().join(CarePathway).where(idle & _not_held(CarePathway.user)).count()
    result.rows += decisions


def _huey_events(run: _Run, result: CategoryResult) -> None:
    limit = result.cutoff.timestamp()
    events, inflight = HUEY_EVENT.bind(db), HUEY_INFLIGHT.bind(db)
    if run.dry_run:
        result.rows = (
            events.select().where(events.c.ts < limit).count()
            + inflight.select().where(inflight.c.started < limit).count()
        )
        return
    stats = delete_chunked(events, events.c.id, events.c.ts < limit, chunk=run.chunk, deadline=run.deadline)
    stale = delete_chunked(
        inflight, inflight.c.task_id, inflight.c.started < limit, chunk=run.chunk, deadline=run.deadline
    )
    result.rows, result.complete = stats.deleted + stale.deleted, stats.complete and stale.complete


def _submissions(run: _Run, result: CategoryResult) -> None:
    """Finished submissions (the receipts; their documents follow the documents policy), legal holds kept."""
    old = (Submission.created_at < result.cutoff) & Submission.state.in_(FINAL)
    held = Submission.user_id.in_(User.select(User.user_id).where(User.legal_hold == True))
    _rows(run, result, Submission, old & (Submission.user_id.is_null() | ~held), old & held)


def _webhooks(run: _Run, result: CategoryResult) -> None:
    # Finished deliveries only: a pending one is given up after a day (worker.webhooks.deliver), then ages here.
    _rows(run, result, WebhookDelivery, WebhookDelivery.finished_at < result.cutoff, None)


def _access_log(run: _Run, result: CategoryResult) -> None:
    """Traces older than the policy go (the only deletion of the append-only log); a held user's stay."""
    old = AccessLog.at < result.cutoff
    held = sorted(user_key(run.settings, user_id) for user_id in run.held_ids)
    if not held:
        _rows(run, result, AccessLog, old, None)
        return
    _rows(run, result, AccessLog, old & AccessLog.user_key.not_in(held), old & AccessLog.user_key.in_(held))


_APPLY: dict[str, Callable[[_Run, CategoryResult], None]] = {
    "sessions": _sessions,
    "documents": _documents,
    "processed": _processed,
    "quarantine": _quarantine,
    "api_cache": _api_cache,
    "pathways": _pathways,
    "huey_events": _huey_events,
    "submissions": _submissions,
    "webhooks": _webhooks,
    "access_log": _access_log,
}
_POLICY = {"api_cache": "cache_revalidate"}


def prune(
    settings: Settings,
    now: _dt.datetime | None = None,
    *,
    dry_run: bool = False,
    deadline: float | None = None,
    chunk: int = DEFAULT_CHUNK,
    categories: Sequence[str] = CATEGORIES,
    on_category: Callable[[CategoryResult], None] | None = None,
) -> list[CategoryResult]:
    """Apply every policy at ``now``; a real run writes one audit row per category."""
    now = now or utcnow()
    held_ids = {u.user_id for u in User.select(User.user_id).where(User.legal_hold == True)}
    run = _Run(settings, now, dry_run, deadline, chunk, held_ids)
    results = []
    for category in categories:
        t0 = time.monotonic()
        result = CategoryResult(category, run.cutoff(_POLICY.get(category, category)))
        if out_of_time(deadline):
            result.complete = False
        else:
            _APPLY[category](run, result)
        result.duration_ms = int((time.monotonic() - t0) * 1000)
        if not dry_run:
            metrics.record_deleted("prune", category, result.rows + result.files)
            RetentionAudit.create(
                category=category,
                cutoff=result.cutoff,
                deleted_rows=result.rows,
                deleted_files=result.files,
                freed_bytes=result.bytes,
                held_rows=result.held,
                complete=result.complete,
                duration_ms=result.duration_ms,
                started_at=now,
            )
        log.info(
            "prune %s%s: %s rows, %s files deleted, %s kept under legal hold (cutoff %s)%s",
            category,
            " (dry run)" if dry_run else "",
            result.rows,
            result.files,
            result.held,
            result.cutoff.isoformat(),
            "" if result.complete else "; time budget spent",
        )
        results.append(result)
        if on_category is not None:
            on_category(result)
    return results


def run(ctx: JobContext) -> dict[str, Any]:
    """The daily ``prune`` periodic job."""
    results = prune(ctx.settings, ctx.started_at, deadline=ctx.deadline)
    return {r.category: {"rows": r.rows, "files": r.files, "complete": r.complete} for r in results}
