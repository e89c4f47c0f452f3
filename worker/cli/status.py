"""``mediflux status``: queue depth, rows per table, periodic jobs, cache health — at a glance."""

from __future__ import annotations

from typing import Any

import click

from worker.cli.context import local_runtime
from worker.cli.output import echo_json, echo_table
from worker.queue import PRIORITY_NAMES
from worker.status import collect_status


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def status(as_json: bool) -> None:
    """Show queue pending/scheduled counts (pending per priority), rows per table, each periodic job's
    last run, next due time, failures in a row and last error, cache health per source (hit ratio) and
    the consumers and watcher alive."""
    runtime = local_runtime()
    data = collect_status(runtime.database, runtime.huey, runtime.settings, runtime.jobs)
    if as_json:
        echo_json(data)
        return
    click.echo(f"queue: {_queue_line(data['queue'])}")
    procs = data["processes"]
    watcher = "a watcher holds the inbox" if procs["watcher"] else "no watcher"
    click.echo(f"processes: {len(procs['consumers'])} consumers alive, {watcher}")
    click.echo(f"schema: {len(data['schema']['applied'])} applied, {len(data['schema']['pending'])} pending")
    hooks = data["webhooks"]
    click.echo(
        f"webhooks: {hooks['pending']} pending, {hooks['delivered']} delivered, {hooks['failed']} given up"
        f" ({hooks['failed_last_24h']} in the last 24 h)"
    )
    click.echo("")
    echo_table(["table", "rows"], sorted(data["tables"].items()))
    click.echo("")
    echo_table(
        ["periodic job", "every", "last run", "last success", "next due", "failures", "last error"],
        [
            [
                j["name"],
                f"{j['interval_seconds']}s",
                j["last_run"],
                j["last_success"],
                j["next_due"],
                j["consecutive_failures"],
                j["last_error"],
            ]
            for j in data["periodic_jobs"]
        ],
    )
    click.echo("")
    echo_table(
        ["cache", "fresh", "stale", "expired", "failing", "hit ratio", "served", "misses", "upstream errors"],
        [
            [s, c["fresh"], c["stale"], c["expired"], c["failing"], c["hit_ratio"], c["served"], c["misses"]]
            + [c["upstream_errors"]]
            for s, c in data["cache"].items()
        ],
    )


def _queue_line(queue: dict[str, Any]) -> str:
    by_priority = queue["pending_by_priority"] or {}
    detail = ", ".join(f"{n} at {p} ({PRIORITY_NAMES.get(p, 'other')})" for p, n in by_priority.items())
    return f"{queue['pending']} pending{f' ({detail})' if detail else ''}, {queue['scheduled']} scheduled"
