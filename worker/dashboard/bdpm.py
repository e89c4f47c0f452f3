"""The dashboard's BDPM mirror page: the live version, its files, the last sync and its error.

The numbers are :func:`worker.bdpm.status.mirror_status`'s, the same as ``mediflux bdpm status`` and the doctor.
"""

from __future__ import annotations

from html import escape
from typing import Any

from worker.dashboard.pages import table, when


def bdpm_page(state: dict[str, Any]) -> str:
    if state["empty"]:
        head = '<p class="bad" id="bdpm-state">Empty: no sync has succeeded yet (medications stay pending).</p>'
    else:
        stale = ' <span class="bad">stale</span>' if state["stale"] else ""
        head = (
            f'<p id="bdpm-state">Version <strong id="bdpm-version">{state["version"]}</strong>, '
            f'<span id="bdpm-rows" data-rows="{state["rows"]}">{state["rows"]}</span> rows, '
            f"loaded {escape(str(when(state['loaded_at'])))}{stale}.</p>"
        )
    outcome = state["last_outcome"] or "never"
    cls = "ok" if outcome in ("updated", "unchanged") else ("empty" if outcome == "never" else "bad")
    at, good, due = (escape(str(when(state[k]) or "-")) for k in ("last_attempt_at", "last_success_at", "next_due_at"))
    sync = (
        f'<p>Last sync: <span class="{cls}" id="bdpm-outcome">{escape(outcome)}</span> at {at}; '
        f"last good {good}; next due {due}.</p>"
    )
    error = f'<p class="bad" id="bdpm-error">{escape(state["last_error"])}</p>' if state["last_error"] else ""
    files = table(
        ["file", "rows", "bad rows", "encoding", "line ends", "warnings"],
        [
            (f["name"], f["rows"], f["bad_rows"], f["encoding"], f["line_ends"], "; ".join(f["warnings"]) or None)
            for f in state["files"]
        ],
        "bdpm-files",
    )
    note = "<p>Sync now with <code>mediflux bdpm sync</code>; details in <code>mediflux bdpm status</code>.</p>"
    return head + sync + error + files + note
