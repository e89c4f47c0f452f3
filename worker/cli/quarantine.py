"""``mediflux quarantine list [--show-names]|retry REF|purge``: inspect and release quarantined inbox files.

What is shown follows :mod:`worker.quarantine_view`, the dashboard's policy too: refs, reasons, sizes and times;
names and user ids only with ``--show-names``."""

from __future__ import annotations

import click

from worker import quarantine as layout
from worker import quarantine_view as view
from worker.access.trail import record_once
from worker.cli import access as access_options
from worker.cli.context import local_runtime
from worker.cli.output import echo_json, echo_table


@click.group()
def quarantine() -> None:
    """Files the ingestion refused, each with a sidecar giving the reason (docs/ingestion.md, "Quarantine")."""


@quarantine.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option(
    "--show-names",
    is_flag=True,
    help="Also show file names, original names and user ids (they may name patients; hidden by default, as on "
    "the dashboard).",
)
@access_options.ACTOR
@access_options.purpose_option("operations")
def list_(as_json: bool, show_names: bool, actor: str | None, purpose: str) -> None:
    """List quarantine entries by ref: reason, format guess, size, time (names and user ids only with
    --show-names, which is traced in the access log of each user shown); an orphan is a sidecar whose file is gone
    (nothing to retry; retention and purge remove it)."""
    runtime = local_runtime()
    rows = [view.shown(e, names=show_names) for e in layout.entries(runtime.settings.home)]
    users = sorted({r["user_id"] for r in rows if show_names and r.get("user_id")})
    if users:  # file names of a person's documents were shown: that is a read of their data
        record_once(
            runtime.settings, runtime.database, users, "quarantine", channel="cli", actor=actor, purpose=purpose
        )
    if as_json:
        echo_json(rows)
        return
    headers = ["ref", "reason", "format", "size", "quarantined (UTC)"] + (["name", "user"] if show_names else [])
    echo_table(
        headers,
        [
            [
                r["ref"],
                r["reason"],
                r["format"],
                "orphan sidecar" if r["orphan"] else r["size"],
                r["quarantined_at"],
            ]
            + ([r["name"], r["user_id"]] if show_names else [])
            for r in rows
        ],
    )


@quarantine.command()
@click.argument("ref_or_name")
def retry(ref_or_name: str) -> None:
    """Put REF_OR_NAME (a ref from `quarantine list`, or a name from --show-names) back into the inbox (its user
    folder when known) to be ingested again."""
    settings = local_runtime().settings
    entry = view.by_ref(settings.home, ref_or_name)
    try:
        target = layout.retry(settings.home, settings.inbox, entry.name if entry else ref_or_name)
    except FileNotFoundError:
        raise click.ClickException("no quarantined file with this ref or name (`mediflux quarantine list`)") from None
    # Asked by ref: the answer names no file either. Asked by name: the operator knows it already.
    click.echo(f"{ref_or_name} moved back to the inbox" if entry else f"moved back to {target}")


@quarantine.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge(yes: bool) -> None:
    """Delete every quarantined file and its sidecar (orphan sidecars too)."""
    settings = local_runtime().settings
    if not yes:
        click.confirm("Delete every quarantined file?", abort=True)
    click.echo(f"{layout.purge(settings.home)} quarantined files deleted")
