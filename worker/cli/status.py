"""``mediflux status``: queue depth, rows per table, periodic jobs — at a glance."""

from __future__ import annotations

import click

from worker.cli.context import local_runtime
from worker.cli.output import echo_json, echo_table
from worker.status import collect_status


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def status(as_json: bool) -> None:
    """Show queue pending/scheduled counts, rows per table and each periodic job's
    last run, next due time and last error."""
    runtime = local_runtime()
    data = collect_status(runtime.database, runtime.huey)
    if as_json:
        echo_json(data)
        return
    q = data["queue"]
    click.echo(f"queue: {q['pending']} pending, {q['scheduled']} scheduled")
    click.echo(f"schema: {len(data['schema']['applied'])} applied, {len(data['schema']['pending'])} pending")
    click.echo("")
    echo_table(["table", "rows"], sorted(data["tables"].items()))
    click.echo("")
    echo_table(
        ["periodic job", "every", "last run", "last success", "next due", "last error"],
        [
            [j["name"], f"{j['interval_seconds']}s", j["last_run"], j["last_success"], j["next_due"], j["last_error"]]
            for j in data["periodic_jobs"]
        ],
    )
