"""The ``mediflux`` command: one click group, one module per command family."""

from __future__ import annotations

import click

from worker import __version__
from worker.cli.ingest import ingest
from worker.cli.migrate import migrate
from worker.cli.quarantine import quarantine
from worker.cli.reanalyze import reanalyze
from worker.cli.status import status
from worker.cli.watch import watch


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mediflux")
def main() -> None:
    """Operate the mediflux worker: schema, status, and (with later commands) ingestion,
    cache and retention. Configuration comes from MEDIFLUX_* environment variables
    (see README); every command applies pending migrations first, except `migrate`."""


main.add_command(migrate)
main.add_command(status)
main.add_command(reanalyze)
main.add_command(ingest)
main.add_command(watch)
main.add_command(quarantine)
