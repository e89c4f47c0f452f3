"""``mediflux quarantine list|retry NAME|purge``: inspect and release quarantined inbox files."""

from __future__ import annotations

from typing import Any

import click

from worker import quarantine as layout
from worker.cli.context import local_runtime
from worker.cli.output import echo_json, echo_table


@click.group()
def quarantine() -> None:
    """Files the ingestion refused, each with a sidecar giving the reason (docs/ingestion.md, "Quarantine")."""


def _row(entry: layout.Entry) -> dict[str, Any]:
    """The sidecar's fields, with the name, the reason, the size on disk and whether only the sidecar is left."""
    return (
        {"name": entry.name}
        | (entry.sidecar or {})
        | {"reason": entry.reason, "size": entry.size, "orphan": entry.orphan}
    )


@quarantine.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def list_(as_json: bool) -> None:
    """List quarantine entries: name, reason, format guess, size, time, user; an orphan is a sidecar whose file is
    gone (nothing to retry; retention and purge remove it)."""
    rows = [_row(e) for e in layout.entries(local_runtime().settings.home)]
    if as_json:
        echo_json(rows)
        return
    echo_table(
        ["name", "reason", "format", "size", "quarantined (UTC)", "user"],
        [
            [
                r["name"],
                r["reason"],
                r.get("format_guess"),
                "orphan sidecar" if r["orphan"] else r["size"],
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
        target = layout.retry(settings.home, settings.inbox, name)
    except FileNotFoundError:
        raise click.ClickException(f"no quarantined file named {name!r}") from None
    click.echo(f"moved back to {target}")


@quarantine.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge(yes: bool) -> None:
    """Delete every quarantined file and its sidecar (orphan sidecars too)."""
    settings = local_runtime().settings
    if not yes:
        click.confirm("Delete every quarantined file?", abort=True)
    click.echo(f"{layout.purge(settings.home)} quarantined files deleted")
