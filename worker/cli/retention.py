"""``mediflux sweep``, ``prune``, ``erase-user``, ``export-user``: retention and GDPR rights by hand.

The same functions as the periodic jobs and the ``erase_user`` task
(worker.retention); these commands only add progress, output and exit codes.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click
import peewee

from models.clock import utcnow
from worker.cli import access as access_options
from worker.cli.context import local_runtime
from worker.cli.output import echo_json, echo_table
from worker.cli.params import user_id as user_id_param
from worker.cli.progress import progress
from worker.errors import safe_error
from worker.retention import erase, export
from worker.retention import prune as pruning
from worker.retention import sweep as sweeping
from worker.retention.chunks import DEFAULT_CHUNK

_BATCH = click.option(
    "--batch-size",
    default=DEFAULT_CHUNK,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Rows per delete transaction.",
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


def _database_failure(exc: Exception) -> click.ClickException:
    return click.ClickException(f"database error, nothing lost (re-run to resume): {safe_error(exc)}")


@click.command()
@_BATCH
@click.option(
    "--budget",
    default=600.0,
    show_default=True,
    type=click.FloatRange(1, 86_400),
    help="Stop after this many seconds (the next run resumes).",
)
@_JSON
def sweep(batch_size: int, budget: float, as_json: bool) -> None:
    """Delete expired cache entries, expired leases, old job runs and huey leftovers now, in short
    transactions, then give freed pages back (incremental vacuum). Same as the `sweep` periodic job."""
    runtime = local_runtime()
    total = sweeping.expired_cache_count(utcnow(), runtime.settings.retention)
    try:
        with progress("sweeping expired cache rows", total) as bar:
            summary = sweeping.run_now(runtime.settings, runtime.huey, budget, batch_size, bar.update)
    except peewee.DatabaseError as exc:
        raise _database_failure(exc) from None
    if as_json:
        echo_json(summary)
    else:
        click.echo(
            f"{summary['api_cache']} cache rows, {summary['leases']} leases, {summary['job_runs']} job runs, "
            f"{summary['huey_keys']} huey keys deleted; {summary['vacuumed_pages']} pages vacuumed"
            + ("" if summary["complete"] else " (time budget spent: run again to finish)")
        )


@click.command()
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted (per category, with cutoffs).")
@_BATCH
@_JSON
def prune(dry_run: bool, batch_size: int, as_json: bool) -> None:
    """Apply the retention policies now (see docs/retention.md): delete per category what is older
    than its cutoff, except data of users under legal hold; each real run writes an audit row per category."""
    runtime = local_runtime()
    try:
        with progress("pruning categories", len(pruning.CATEGORIES)) as bar:
            results = pruning.prune(
                runtime.settings, dry_run=dry_run, chunk=batch_size, on_category=lambda _result: bar.update(1)
            )
    except peewee.DatabaseError as exc:
        raise _database_failure(exc) from None
    if as_json:
        echo_json({"dry_run": dry_run, "categories": [r.as_dict() for r in results]})
        return
    click.echo("would delete (dry run):" if dry_run else "deleted:")
    echo_table(
        ["category", "cutoff (UTC)", "rows", "files", "bytes", "held", "complete"],
        [
            [
                r.category,
                r.cutoff.strftime("%Y-%m-%d %H:%M"),
                r.rows,
                r.files,
                r.bytes,
                r.held,
                "yes" if r.complete else "no",
            ]
            for r in results
        ],
    )


@click.command("erase-user")
@click.argument("user_id", callback=user_id_param)
@_BATCH
@_JSON
def erase_user(user_id: str, batch_size: int, as_json: bool) -> None:
    """Erase everything held about USER_ID (rows in every table, inbox/processed/quarantine files),
    then truncate the WAL so no trace stays in the database files. Safe to re-run after a crash."""
    runtime = local_runtime()
    try:
        result = erase.erase_user(runtime.settings, user_id, chunk=batch_size, huey=lambda: runtime.huey)
    except erase.LegalHoldError as exc:
        raise click.ClickException(str(exc)) from None
    except (peewee.DatabaseError, OSError, sqlite3.Error) as exc:  # sqlite3: the queue file
        raise click.ClickException(f"erasure interrupted, re-run to finish: {safe_error(exc)}") from None
    if as_json:
        echo_json(result.as_dict())
    else:
        click.echo(
            f"erasure {result.user_key[:12]}: {result.state}; "
            + ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()))
        )
    if result.state != "done":
        click.echo("WAL checkpoint blocked by a reader: the erasure_backlog job finishes it", err=True)
        sys.exit(3)


@click.command("export-user")
@click.argument("user_id", callback=user_id_param)
@access_options.ACTOR
@access_options.purpose_option("right_of_access")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the JSON here (0600, atomically) instead of standard output.",
)
def export_user(user_id: str, actor: str | None, purpose: str, output: Path | None) -> None:
    """Write everything held about USER_ID as JSON (right of access; format in docs/retention.md).
    The export is recorded in the access log (who: --actor, why: --purpose)."""
    runtime = local_runtime()
    try:
        huey = runtime.huey  # building it may create the queue's tables (SQLite), which a full disk refuses
    except (sqlite3.Error, peewee.DatabaseError, OSError) as exc:
        click.echo(f"queue not read ({safe_error(exc)}): the export's queue section is null", err=True)
        huey = None
    data = export.export_user(runtime.settings, user_id, huey, actor=actor, purpose=purpose)
    if output is None:
        echo_json(data)
        return
    try:
        size = export.write_export(data, output)
    except OSError as exc:
        raise click.ClickException(
            f"cannot write the export ({exc.strerror or type(exc).__name__}); nothing was written"
        ) from None
    click.echo(f"exported to {output} ({size} bytes)", err=True)
