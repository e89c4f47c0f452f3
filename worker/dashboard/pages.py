"""HTML of the dashboard pages: plain server-rendered markup, every value escaped.

Numbers carry ``id``/``data-*`` attributes so the browser tests can compare them
with the database. Action forms appear only when actions are enabled; each asks
for the token (typed by the operator, never embedded in the page).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from worker.dashboard.svg import BAD, COLD, GOOD, WARM, bar_chart
from worker.opstate import percent
from worker.queue import PRIORITY_NAMES

NAV = (
    ("/", "Overview"),
    ("/documents", "Documents"),
    ("/cache", "Cache"),
    ("/jobs", "Periodic jobs"),
    ("/retention", "Retention"),
    ("/bdpm", "BDPM mirror"),
)

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3b57;color:#fff;padding:.6em 1em}header a{color:#fff;margin-right:1.2em;text-decoration:none}
header a.on{border-bottom:2px solid #fff}main{padding:1em 1.5em;max-width:1100px}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
th{background:#eef2f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1e7d32}.bad{color:#b71c1c;font-weight:bold}.empty{color:#777;font-style:italic}
.axis{font-size:10px;fill:#555}.msg{background:#fff3cd;padding:.5em 1em;border:1px solid #e0c97a}
form.inline{display:inline}form.inline input{width:9em}.legend{font-size:12px;margin-top:0}
"""


def layout(title: str, path: str, body: str, message: str | None = None) -> str:
    nav = "".join(f'<a href="{href}"{" class=on" if href == path else ""}>{escape(label)}</a>' for href, label in NAV)
    note = f'<p class="msg" id="message">{escape(message)}</p>' if message else ""
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)} · mediflux</title>"
        f"<style>{STYLE}</style></head><body><header><strong>mediflux</strong> &nbsp; {nav}</header>"
        f"<main><h1>{escape(title)}</h1>{note}{body}</main></body></html>"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], table_id: str, empty: str = "none") -> str:
    rows = list(rows)
    if not rows:
        return f'<p class="empty" id="{escape(table_id)}">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_td(v) for v in row) + "</tr>" for row in rows)
    return f'<table id="{escape(table_id)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _td(value: Any) -> str:
    if isinstance(value, Raw):
        return f"<td>{value.html}</td>"
    if isinstance(value, bool):
        return f'<td class="{"ok" if value else "bad"}">{"yes" if value else "no"}</td>'
    if isinstance(value, (int, float)):
        return f'<td class="n">{_num(value)}</td>'
    return f"<td>{escape('' if value is None else str(value))}</td>"


class Raw:
    """Markup already built here (a form, a chart): not escaped again."""

    def __init__(self, html: str) -> None:
        self.html = html


def _num(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.2f}"


def when(value: str | None) -> str | None:
    """An ISO time as ``YYYY-MM-DD HH:MM:SS`` (UTC, as stored): easier to read than microseconds."""
    return value[:19].replace("T", " ") if isinstance(value, str) and len(value) >= 19 else value


def action_form(action: str, fields: dict[str, str], label: str) -> Raw:
    hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items())
    return Raw(
        f'<form class="inline" method="post" action="/actions/{escape(action)}">{hidden}'
        f'<input type="password" name="token" placeholder="token" autocomplete="off" required>'
        f'<button type="submit">{escape(label)}</button></form>'
    )


def overview_page(data: dict[str, Any], actions: bool) -> str:
    q = data["queue"]
    stats = data["stats"]
    parts = [
        table(
            ["queue", "tasks"],
            [
                ("pending", q["pending"]),
                *[
                    (f"pending at priority {p} ({PRIORITY_NAMES.get(p, 'other')})", n)
                    for p, n in (q["pending_by_priority"] or {}).items()
                ],
                ("scheduled", q["scheduled"]),
                ("in flight", stats["inflight"] if stats else None),
            ],
            "queue",
        )
    ]
    parts.append(
        table(
            ["process", "alive", "detail"],
            [
                ("consumers", bool(data["consumers"]), f"{len(data['consumers'])} with a heartbeat in the last 3 min"),
                ("inbox watcher", data["watcher"], "lease held" if data["watcher"] else "no live lease"),
            ],
            "processes",
        )
    )
    if stats is None:
        parts.append(
            '<p class="empty" id="no-stats">No task statistics yet: the consumer records them '
            "(huey.contrib.stats) once it runs with stats enabled.</p>"
        )
    else:
        tp = stats["throughput"]
        minutes = [f"-{len(tp['complete']) - i}m" for i in range(len(tp["complete"]))]
        parts.append("<h2>Tasks per minute, last hour</h2>")
        parts.append(
            bar_chart(
                [("completed", tp["complete"]), ("failed", tp["error"])],
                minutes,
                chart_id="throughput",
                label_every=10,
                colours=(GOOD, BAD),
            )
        )
        rows = [
            (window, w["completed"], w["errors"], w["retries"], percent(w["error_rate"]))
            for window, w in (("last hour", stats["hour"]), ("last 24 h", stats["day"]))
        ]
        parts.append(table(["window", "completed", "errors", "retries", "error rate"], rows, "error-rates"))
        parts.append("<h2>Tasks</h2>")
        parts.append(
            table(
                ["task", "executed", "completed", "errors", "retries", "average s"],
                [
                    (
                        t["task"],
                        t["executed"],
                        t["completed"],
                        t["errors"],
                        t["retries"],
                        None if t["avg"] is None else round(t["avg"], 3),
                    )
                    for t in stats["tasks"]
                ],
                "tasks",
            )
        )
    parts.append("<h2>Pending tasks</h2>")
    headers = ["task", "id", "eta"] + (["action"] if actions else [])
    pending = [
        [t["task"], t["id"], t["eta"]] + ([action_form("revoke", {"task_id": t["id"]}, "revoke")] if actions else [])
        for t in data["pending"]
    ]
    parts.append(table(headers, pending, "pending-tasks", "queue empty"))
    return "".join(parts)


def documents_page(data: dict[str, Any], actions: bool) -> str:
    parts = [
        f'<p>Stored documents: <strong id="documents-total">{data["total"]}</strong></p>',
        "<h2>Ingested per hour, last 24 h (UTC)</h2>",
        bar_chart([("documents", data["per_hour"])], data["hours"], chart_id="per-hour", label_every=3),
        "<h2>By type</h2>",
        table(["type", "documents"], data["by_type"].items(), "by-type"),
        "<h2>By status</h2>",
        table(["status", "documents"], data["by_status"].items(), "by-status"),
        "<h2>Latest documents</h2>",
        table(
            ["id", "sha256", "format", "type", "status", "stored"],
            [(d["id"], d["sha256"], d["format"], d["type"], d["status"], when(d["stored"])) for d in data["latest"]],
            "latest",
            "no documents yet",
        ),
        "<h2>Quarantine</h2>",
    ]
    headers = ["ref", "reason", "format", "bytes", "since"] + (["action"] if actions else [])
    rows = [
        [e.ref, e.reason, e.format, "orphan sidecar" if e.orphan else e.size, when(e.time)]
        + ([action_form("retry", {"ref": e.ref}, "retry") if not e.orphan else "–"] if actions else [])
        for e in data["quarantine"]
    ]
    parts.append(table(headers, rows, "quarantine", "nothing in quarantine"))
    return "".join(parts)


def cache_page(rows: list[dict[str, Any]]) -> str:
    body = table(
        [
            "source",
            "fresh",
            "stale",
            "expired",
            "negative",
            "failing",
            "reads served",
            "misses",
            "hit ratio",
            "upstream errors",
            "last error",
            "at",
        ],
        [
            (
                r["source"],
                r["fresh"],
                r["stale"],
                r["expired"],
                r["negative"],
                r["failing"],
                r["served"],
                r["misses"],
                percent(r["hit_ratio"]),
                r["upstream_errors"],
                r["last_error"],
                when(r["last_error_at"]),
            )
            for r in rows
        ],
        "cache",
        "cache empty",
    )
    chart = bar_chart(
        [(s, [r[s] for r in rows]) for s in ("fresh", "stale", "expired")],
        [r["source"] for r in rows],
        chart_id="cache-chart",
        width=420,
        colours=(GOOD, WARM, COLD),
    )
    note = (
        "<p>Hit ratio: reads served from a stored entry (fresh, or stale while refreshed) ÷ all reads "
        "(those + misses), from every process's counters, as in <code>mediflux status</code>. "
        "Failing: entries whose last upstream call failed. Errors show their type only.</p>"
    )
    return body + chart + note


def jobs_page(rows: list[dict[str, Any]], actions: bool) -> str:
    headers = ["job", "every", "last run", "duration ms", "next due", "running", "last error", "failures in a row"]
    headers += ["action"] if actions else []
    out = [
        [
            j["name"],
            f"{j['interval_seconds']} s",
            when(j["last_run"]),
            j["last_duration_ms"],
            when(j["next_due"]),
            "yes" if j["running"] else "no",
            j["last_error"],
            j["consecutive_failures"],
        ]
        + ([action_form("run-job", {"name": j["name"]}, "run now")] if actions else [])
        for j in rows
    ]
    parts = [table(headers, out, "jobs")]
    for j in rows:
        if j["recent"]:
            parts.append(f"<h2>{escape(j['name'])}: recent run durations (ms)</h2>")
            ok = [d if good else 0 for d, good in j["recent"]]
            bad = [0 if good else d for d, good in j["recent"]]
            parts.append(
                bar_chart(
                    [("ok", ok), ("failed", bad)],
                    [str(i + 1) for i in range(len(ok))],
                    chart_id=f"runs-{j['name']}",
                    width=480,
                    height=120,
                    unit=" ms",
                    colours=(GOOD, BAD),
                )
            )
    return "".join(parts)


def retention_page(audit: dict[str, Any]) -> str:
    return table(audit["columns"], audit["rows"], "retention-audit", "No audit yet: no retention run recorded.")
