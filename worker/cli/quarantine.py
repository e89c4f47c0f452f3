"""``mediflux quarantine list|retry NAME|purge``: inspect and release quarantined inbox files."""

from __future__ import annotations

import click

from worker.cli.context import local_runtime
from worker.cli.output import echo_json, echo_table
from worker.ingest import quarantine as q


@click.group()
def quarantine() -> None:
    """Files the ingestion refused, with the reason (<home>/quarantine/NAME + NAME.error.json)."""


@quarantine.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def list_(as_json: bool) -> None:
    """List quarantined files: name, reason, format guess, size, time, user."""
    rows = [{"name": e.name} | e.sidecar for e in q.entries(local_runtime().settings.home)]
    if as_json:
        echo_json(rows)
        return
    echo_table(
        ["name", "reason", "format", "size", "quarantined (UTC)", "user"],
        [
            [
                r["name"],
                r.get("reason"),
                r.get("format_guess"),
                r.get("size"),
                r.get("quarantined_at"),
                r.get("user_id"),
            ]
            for r in rows
        ],
    )


@quarantine.command()
@click.argument("name")
def retry(name: str) -> None:
    """Put NAME back into the inbox (its user folder when known) to be ingested again."""
    settings = local_runtime().settings
    try:
        target = q.retry(settings.home, settings.inbox, name)
    except FileNotFoundError:
        raise click.ClickException(f"no quarantined file named {name!r}") from None
    click.echo(f"moved back to {target}")


@quarantine.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge(yes: bool) -> None:
    """Delete every quarantined file and its sidecar."""
    settings = local_runtime().settings
    if not yes:
        click.confirm("Delete every quarantined file?", abort=True)
    click.echo(f"{q.purge(settings.home)} quarantined files deleted")
