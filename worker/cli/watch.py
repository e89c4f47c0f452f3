"""``mediflux watch``: the inbox watcher (Procfile ``watcher:``)."""

from __future__ import annotations

import signal

import click

from worker import memory
from worker.cli.context import queue_runtime
from worker.ingest.watcher import InboxWatcher


@click.command()
def watch() -> None:
    """Watch the inbox and ingest OCR results as they land (until SIGTERM/SIGINT).

    Live files are ingested as soon as they are complete; files already there at start, and anything
    missed, are found by full scans and sent to the consumer in batches. One watcher per inbox runs
    at a time (a database lease); a second one stands by."""
    runtime = queue_runtime()
    watcher = InboxWatcher(runtime.settings, runtime.triggers)
    memory.start_trimmer()  # inline ingestion frees what it allocates; give it back (worker/memory.py)
    memory.cap_sqlite_memory()

    def _stop(signum: int, _frame: object) -> None:
        watcher.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    watcher.run()
