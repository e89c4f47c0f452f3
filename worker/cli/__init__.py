"""The ``mediflux`` command: one click group, one module per command family."""

from __future__ import annotations

import click

from worker import __version__
from worker.cli.access import access_log
from worker.cli.bdpm import bdpm_group
from worker.cli.cache import cache_group
from worker.cli.copydb import copy_db
from worker.cli.dashboard import dashboard
from worker.cli.doctor import doctor
from worker.cli.ingest import ingest
from worker.cli.migrate import migrate
from worker.cli.ocr import ocr
from worker.cli.quarantine import quarantine
from worker.cli.reanalyze import reanalyze
from worker.cli.retention import erase_user, export_user, prune, sweep
from worker.cli.status import status
from worker.cli.watch import watch


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mediflux")
def main() -> None:
    """Operate the mediflux worker: schema and status, ingestion and quarantine, OCR of an
    image or PDF (ocr), analysis, the local BDPM mirror (bdpm), the API cache, retention and
    GDPR rights, the access log (access-log), the dashboard and the doctor. Configuration
    comes from MEDIFLUX_* environment variables (see README); every command applies pending
    migrations first, except `migrate`, `doctor` (it only reports them) and `ocr` (no database)."""


main.add_command(migrate)
main.add_command(status)
main.add_command(reanalyze)
main.add_command(dashboard)
main.add_command(doctor)
main.add_command(copy_db)
main.add_command(sweep)
main.add_command(prune)
main.add_command(erase_user)
main.add_command(export_user)
main.add_command(cache_group)
main.add_command(ingest)
main.add_command(watch)
main.add_command(quarantine)
main.add_command(bdpm_group)
main.add_command(ocr)
main.add_command(access_log)
