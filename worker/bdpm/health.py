"""The doctor's view of the mirror: empty, stale, or last sync refused — each with what to do.

Returns plain (status, detail, fix) so that ``worker.doctor`` wraps it in its ``Check`` without this package
importing the doctor. Read-only: it runs on the doctor's read-only connection.
"""

from __future__ import annotations

import datetime as _dt

from worker.bdpm.status import mirror_status
from worker.bdpm.store import Database

SYNC_FIX = "run `mediflux bdpm sync` (the consumer's bdpm_sync job also does it) and read `mediflux bdpm status`"


def mirror_check(
    db: Database, interval: _dt.timedelta | None = None, now: _dt.datetime | None = None
) -> tuple[str, str, str | None]:
    """``ok`` or ``warn`` with a detail and a fix: an empty mirror, a stale one, or one still serving its old
    version after a refused sync warns."""
    state = mirror_status(db, interval, now)
    outcome, error = state["last_outcome"], state["last_error"]
    why = f" ({error[:160]})" if error else ""  # file names, counts, HTTP statuses: no URL, no data
    if state["empty"]:  # a warning: the rest works, and a fresh install syncs at its first start
        if outcome in ("failed", "rejected"):
            return (
                "warn",
                f"the BDPM mirror is empty (medications stay pending): the last sync {outcome}{why}",
                SYNC_FIX,
            )
        return "warn", "the BDPM mirror is empty: no sync has run yet (medications stay pending)", SYNC_FIX
    detail = f"version {state['version']}, {state['rows']} rows, loaded {state['loaded_at']}"
    if state["stale"]:
        return "warn", f"stale: no successful sync since {state['last_success_at']} ({detail})", SYNC_FIX
    if outcome in ("failed", "rejected"):
        return "warn", f"the last sync {outcome}{why}; still serving {detail}", SYNC_FIX
    return "ok", detail, None
