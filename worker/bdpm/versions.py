"""A mirror version's life: begun (``loading``), swapped in (``current``, then ``previous``, then ``retired``) or
``rejected`` with its reason; and the one state row with the pointer and the last sync's outcome.

The swap is one short transaction that moves the pointer and the states together. Rows of versions that
are neither current nor previous are deleted afterwards, in short chunks (:func:`prune`).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from models import is_postgres
from models.bdpm import BdpmState, BdpmVersion
from models.clock import utcnow
from worker.bdpm.store import TABLES, Database, _one, _rows, execute

LIVE = ("current", "previous")
PRUNE_CHUNK = 5000


def ensure_state(db: Database) -> None:
    """The state row exists (id 1); idempotent and safe to race."""
    db.execute_sql("INSERT INTO bdpm_state (id) VALUES (1) ON CONFLICT DO NOTHING")


def begin_version(db: Database) -> int:
    """A new version in state ``loading``: its rows are invisible to readers until :func:`swap`."""
    ensure_state(db)
    with db.atomic():
        return int(BdpmVersion.insert(state="loading", started_at=utcnow()).execute(db))


def describe(db: Database, version: int, counts: dict[str, int], report: dict[str, Any]) -> None:
    """Store what a loaded version holds (rows per file, the parse reports and the checks)."""
    with db.atomic():
        BdpmVersion.update(counts=counts, report=report).where(BdpmVersion.id == version).execute(db)


def swap(db: Database, version: int, now: _dt.datetime | None = None, warning: str | None = None) -> int | None:
    """Make ``version`` the one readers use, in one transaction; the old current becomes previous. Returns it.
    ``warning`` (an optional file that failed) goes to ``last_error``: the swap must not hide it."""
    now = now or utcnow()
    ensure_state(db)
    lock = " FOR UPDATE" if is_postgres(db) else ""
    with db.atomic():
        row = _one(db, f"SELECT current_version FROM bdpm_state WHERE id = 1{lock}")
        old = row[0] if row else None
        BdpmState.update(
            current_version=version,
            previous_version=old,
            swapped_at=now,
            last_attempt_at=now,
            last_success_at=now,
            last_outcome="updated",
            last_error=warning,
        ).where(BdpmState.id == 1).execute(db)
        BdpmVersion.update(state="retired").where(BdpmVersion.state == "previous").execute(db)
        if old is not None:
            BdpmVersion.update(state="previous").where(BdpmVersion.id == old).execute(db)
        BdpmVersion.update(state="current", finished_at=now).where(BdpmVersion.id == version).execute(db)
    return old


def reject(db: Database, version: int, reason: str, now: _dt.datetime | None = None) -> None:
    """Mark a version that failed verification; readers never saw it. Its rows go at the next :func:`prune`."""
    now = now or utcnow()
    with db.atomic():
        BdpmVersion.update(state="rejected", reason=reason, finished_at=now).where(BdpmVersion.id == version).execute(
            db
        )
        record_outcome(db, "rejected", reason, now=now)


def record_outcome(db: Database, outcome: str, error: str | None = None, now: _dt.datetime | None = None) -> None:
    """Remember how the last sync ended: ``unchanged`` (success, nothing new), ``rejected`` or ``failed`` (why).
    After a good sync, ``error`` is its warning (an optional file that failed), or None."""
    now = now or utcnow()
    ensure_state(db)
    values: dict[Any, Any] = {
        BdpmState.last_attempt_at: now,
        BdpmState.last_outcome: outcome,
        BdpmState.last_error: error,
    }
    if outcome in ("unchanged", "updated"):
        values[BdpmState.last_success_at] = now
    with db.atomic():
        BdpmState.update(values).where(BdpmState.id == 1).execute(db)


def live_versions(db: Database) -> tuple[int | None, int | None]:
    row = _one(db, "SELECT current_version, previous_version FROM bdpm_state WHERE id = 1")
    return (row[0], row[1]) if row else (None, None)


def prune(db: Database) -> int:
    """Delete the rows of every version that is neither current nor previous (rejected, retired, abandoned
    loads), in short chunks; abandoned ``loading`` versions are marked so. Call it holding the sync lease."""
    keep = {v for v in live_versions(db) if v is not None}
    with db.atomic():
        stale = BdpmVersion.update(state="abandoned").where(BdpmVersion.state == "loading")
        stale.execute(db)
    deleted = 0
    for table in {m._meta.table_name for m in TABLES.values()}:
        versions = [v for (v,) in _rows(db, f"SELECT DISTINCT version FROM {table}") if v not in keep]
        select = f"SELECT id FROM {table} WHERE version = ?"
        for version in versions:
            while True:
                with db.atomic():
                    cursor = execute(db, f"DELETE FROM {table} WHERE id IN ({select} LIMIT {PRUNE_CHUNK})", (version,))
                count = cursor.rowcount
                deleted += max(count, 0)
                if count < PRUNE_CHUNK:
                    break
    return deleted


def state(db: Database) -> dict[str, Any]:
    """The state row and the current version's description, for the status, the doctor and the dashboard
    (read-only: it runs on the doctor's read-only connection)."""
    s = BdpmState.select().where(BdpmState.id == 1).first(db) or BdpmState()  # read-only: no row is made here
    current = None
    if s.current_version is not None:
        current = BdpmVersion.select().where(BdpmVersion.id == s.current_version).first(db)
    last_rejected = (
        BdpmVersion.select().where(BdpmVersion.state == "rejected").order_by(BdpmVersion.id.desc()).first(db)
    )
    return {
        "current_version": s.current_version,
        "previous_version": s.previous_version,
        "swapped_at": s.swapped_at,
        "last_attempt_at": s.last_attempt_at,
        "last_success_at": s.last_success_at,
        "last_outcome": s.last_outcome,
        "last_error": s.last_error,
        "counts": dict(current.counts) if current else {},
        "report": dict(current.report) if current else {},
        "loaded_at": current.finished_at if current else None,
        "last_rejected": {"version": last_rejected.id, "reason": last_rejected.reason, "at": last_rejected.finished_at}
        if last_rejected
        else None,
    }
