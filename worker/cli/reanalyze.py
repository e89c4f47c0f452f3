"""``mediflux reanalyze``: run the current extractor again over stored documents."""

from __future__ import annotations

import datetime as _dt

import click

from models import db
from worker.analysis import EXTRACTOR_VERSION, runner
from worker.analysis.classify import TYPES
from worker.bdpm import store as bdpm_store
from worker.cli.context import local_runtime
from worker.cli.output import echo_json
from worker.cli.progress import progress


@click.command()
@click.option(
    "--type",
    "doc_type",
    type=click.Choice(TYPES + ("unknown",)),
    help="Only documents currently analysed as this type.",
)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only documents stored on or after this date (YYYY-MM-DD, UTC).",
)
@click.option(
    "--batch-size", default=50, show_default=True, type=click.IntRange(1, 1000), help="Documents per database batch."
)
@click.option(
    "--bdpm-stale",
    is_flag=True,
    help="Only re-match the BDPM medications of documents matched against another mirror version (after a sync).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary for machines.")
def reanalyze(
    doc_type: str | None, since: _dt.datetime | None, batch_size: int, bdpm_stale: bool, as_json: bool
) -> None:
    """Re-run the current extractor over stored documents (all, or filtered by --type/--since),
    in batches, with a progress bar; each document's analysis is replaced. With --bdpm-stale, only the
    medications are matched again on the live BDPM mirror (extraction kept)."""
    local_runtime()
    if bdpm_stale:
        _rematch(batch_size, as_json)
        return
    since_utc = since.replace(tzinfo=_dt.UTC) if since else None
    query = runner.select_for_reanalysis(doc_type, since_utc)
    total = query.count()
    done = failed = 0
    with progress("reanalysing", total) as bar:
        for ids in runner.batches(query, batch_size):
            for document_id in ids:
                if runner.analyze_safely(document_id):
                    done += 1
                else:
                    failed += 1
            bar.update(len(ids))
    summary = {"selected": total, "analysed": done, "failed": failed, "extractor_version": EXTRACTOR_VERSION}
    if as_json:
        echo_json(summary)
    else:
        click.echo(f"{done} analysed, {failed} failed (extractor version {EXTRACTOR_VERSION})")


def _rematch(batch_size: int, as_json: bool) -> None:
    version = bdpm_store.current_version(db)
    if version is None:
        raise click.ClickException("the BDPM mirror is empty: run `mediflux bdpm sync`")
    query = runner.select_bdpm_stale(version)
    total = query.count()
    done = 0
    with progress("re-matching", total) as bar:
        for ids in runner.batches(query, batch_size):
            done += runner.rematch(ids)
            bar.update(len(ids))
    if as_json:
        echo_json({"selected": total, "rematched": done, "mirror_version": version})
    else:
        click.echo(f"{done} re-matched on BDPM mirror version {version}")
