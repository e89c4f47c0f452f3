"""The mirror's state for operators, computed once: `mediflux bdpm status`, the doctor and the dashboard read it.

Version and when it was loaded, rows, bad rows (and which: line and reason) and encoding per file, the notes
and warnings of the sync that loaded it, the last sync's outcome and error (after a good sync: its warning, an
optional file that failed), when the ``bdpm_sync`` job is next due, and whether the mirror is empty or stale.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from models.clock import utcnow
from models.jobs import PeriodicJob
from worker.bdpm import versions
from worker.bdpm.files import FILES
from worker.bdpm.store import Database

JOB = "bdpm_sync"
STALE_AFTER = _dt.timedelta(days=3)  # with a daily sync, three days without a good one is a problem
BAD_LISTED = 100  # bad rows listed per file (the parse report keeps at most worker.bdpm.parse.MAX_BAD_LISTED)


def _iso(value: _dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def mirror_status(
    db: Database, interval: _dt.timedelta | None = None, now: _dt.datetime | None = None
) -> dict[str, Any]:
    """Everything the status shows, JSON-friendly. ``stale``: no good sync for max(3 days, 3 intervals)."""
    now = now or utcnow()
    st = versions.state(db)
    job = PeriodicJob.select().where(PeriodicJob.name == JOB).first(db)
    reports = st["report"].get("files", {}) if st["report"] else {}
    files = []
    for spec in FILES:
        rep = reports.get(spec.name, {})
        files.append(
            {
                "name": spec.name,
                "rows": st["counts"].get(spec.key),
                "bad_rows": rep.get("bad_rows"),
                "bad": [{"line": b["line"], "reason": b["reason"]} for b in rep.get("bad", [])[:BAD_LISTED]],
                "encoding": rep.get("encoding"),
                "line_ends": rep.get("line_ends"),
                "warnings": rep.get("warnings", []),
            }
        )
    stale_after = max(STALE_AFTER, 3 * interval) if interval else STALE_AFTER
    last_good = st["last_success_at"]
    empty = st["current_version"] is None
    return {
        "empty": empty,
        "stale": (not empty) and (last_good is None or now - last_good > stale_after),
        "version": st["current_version"],
        "previous_version": st["previous_version"],
        "loaded_at": _iso(st["loaded_at"]),
        "rows": sum(v for v in st["counts"].values()) if st["counts"] else 0,
        "files": files,
        "notes": list(st["report"].get("notes", [])) if st["report"] else [],
        "warnings": list(st["report"].get("warnings", [])) if st["report"] else [],
        "last_attempt_at": _iso(st["last_attempt_at"]),
        "last_success_at": _iso(last_good),
        "last_outcome": st["last_outcome"],
        "last_error": st["last_error"],
        "last_rejected": {**st["last_rejected"], "at": _iso(st["last_rejected"]["at"])}
        if st["last_rejected"]
        else None,
        "next_due_at": _iso(job.next_due_at) if job else None,
        "job_running": bool(job and job.claimed_until and job.claimed_until > now),
    }
