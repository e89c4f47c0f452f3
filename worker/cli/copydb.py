"""``mediflux copy-db --to URL``: copy this deployment's database into an empty PostgreSQL database."""

from __future__ import annotations

from urllib.parse import urlsplit

import click
import peewee

from models.database import open_database
from worker.cli.context import local_runtime
from worker.cli.output import echo_json, echo_table
from worker.cli.progress import progress
from worker.copydb import CopyError, check_target_empty, copy_database, count_rows
from worker.errors import safe_error


@click.command("copy-db")
@click.option(
    "--to",
    "target_url",
    required=True,
    metavar="URL",
    help="Empty target database, e.g. postgresql://user@host:5432/mediflux.",
)
@click.option(
    "--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000), help="Rows per INSERT batch."
)
@click.option("--json", "as_json", is_flag=True, help="Print the per-table report as JSON.")
def copy_db(target_url: str, batch_size: int, as_json: bool) -> None:
    """Copy the database (MEDIFLUX_DATABASE_URL) into an EMPTY one at URL, then verify it.

    Same schema version (migrations run on the target, history copied), all tables in
    one transaction, id sequences reset, row counts and checksums compared before
    commit. Refuses a target that has rows. Stop the worker, watcher and app first,
    then point MEDIFLUX_DATABASE_URL at the target (docs/scaling.md).
    """
    scheme = urlsplit(target_url).scheme.lower()
    if scheme not in ("postgresql", "postgres", "sqlite"):
        raise click.BadParameter("expected a postgresql:// (or sqlite:///) URL", param_hint="--to")
    runtime = local_runtime()
    if target_url.strip() == runtime.settings.database_url:
        raise click.BadParameter("the target is the source database", param_hint="--to")
    source = runtime.database
    try:
        target = open_database(target_url, bind=False)
        target.connect()
    except (ValueError, peewee.DatabaseError) as exc:
        raise click.ClickException(f"cannot open the target database: {safe_error(exc)}") from None
    try:
        check_target_empty(target)  # before the progress bar: a refusal is one clear line
        total = count_rows(source)
        with progress("copy-db", total) as bar:
            report = copy_database(source, target, batch_size=batch_size, on_rows=bar.update)
    except CopyError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        target.close()
    rows = [{"table": t.table, "rows": t.rows, "sha256": t.checksum} for t in report]
    if as_json:
        echo_json({"verified": True, "tables": rows})
        return
    echo_table(["table", "rows", "sha256"], [[t.table, t.rows, t.checksum[:16]] for t in report])
    click.echo(
        f"verified: {sum(t.rows for t in report[:-1])} rows in {len(report) - 1} tables "
        "(counts and checksums match); migration history copied"
    )
