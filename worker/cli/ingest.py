"""``mediflux ingest PATH...``: ingest files or folders, through the consumer or (``--now``) inline."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

import click

from models.private import private_dir
from worker.cli.context import queue_runtime
from worker.cli.output import echo_json
from worker.cli.params import user_id as user_id_param
from worker.cli.progress import progress
from worker.config import Settings
from worker.ingest import writers
from worker.ingest.batch import ingest_batch
from worker.ingest.files import Gone, Skipped, Transient, inbox_relative
from worker.ingest.report import IngestReport
from worker.ingest.scan import IgnoreRules, walk
from worker.ocr.stage import ocr_paths
from worker.triggers import Triggers


def _copy_into_inbox(path: str, settings: Settings, user_id: str | None) -> str | None:
    """Files outside the inbox are copied in (the worker only ever removes inbox files), atomically.
    None when the original changed or got a writer during the copy (left for a retry: never a prefix)."""
    folder = private_dir(settings.inbox / user_id if user_id else settings.inbox)
    name = os.path.basename(path)
    target = folder / name
    if os.path.lexists(target):
        target = folder / f"{uuid.uuid4().hex[:8]}-{name}"
    tmp = folder / f".{uuid.uuid4().hex}.part"
    before = os.stat(path)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))  # 0600 before any byte
    shutil.copyfile(path, tmp)
    after = os.stat(path)
    if _version(before) != _version(after) or writers.being_written(path):
        os.unlink(tmp)
        return None
    os.replace(tmp, target)
    return str(target)


def _version(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _settled(path: str, settings: Settings) -> bool:
    """Taken only when no process holds it open for writing (or, where that cannot be told, quiet for
    ``MEDIFLUX_WATCH_POLL_QUIET_SECONDS``): see docs/ingestion.md, Readiness."""
    try:
        st = os.lstat(path)
    except OSError:
        return True  # gone or unreadable: ingestion reports it
    return writers.settled(path, max(st.st_mtime, st.st_ctime), time.time(), settings.watch_poll_quiet_seconds)


def collect(paths: tuple[str, ...], settings: Settings, user_id: str | None) -> tuple[list[str], int, int]:
    """Inbox paths to ingest for the command's arguments (folders walked); also the count of copied files
    and of files left alone because they may still be being written."""
    rules = IgnoreRules(settings.watch_ignore)
    out, copied, waiting = [], 0, 0
    for raw in paths:
        path = os.path.abspath(raw)
        files = [e.path for e in walk(Path(path), rules)] if os.path.isdir(path) else [path]
        for f in files:
            try:
                inbox_relative(f, settings.inbox)
                inside = True
            except Skipped:
                inside = False
            except (Gone, Transient):
                inside = True  # in the inbox; ingestion finds it gone, or retries
            if not _settled(f, settings):
                waiting += 1
            elif inside:
                out.append(f)  # already in the inbox: ingested where it is (its folder names the user)
            elif os.path.isfile(f):  # regular files only (never a FIFO or device outside the inbox)
                copy = _copy_into_inbox(f, settings, user_id)
                if copy is None:
                    waiting += 1
                else:
                    out.append(copy)
                    copied += 1
            else:
                click.echo(f"skipped (not a regular file): {click.format_filename(f)}", err=True)
    if waiting:
        click.echo(f"{waiting} files still being written: left for a retry", err=True)
    return out, copied, waiting


class _OcrHere:
    """The runtime's triggers, except that images and PDFs are OCRed by this command (``--now``) rather
    than enqueued: the same file is never OCRed by the consumer as well."""

    def __init__(self, triggers: Triggers) -> None:
        self._triggers = triggers

    def __getattr__(self, name: str) -> object:
        return getattr(self._triggers, name)

    def ocr(self, paths: list[str]) -> int:
        return 0


@click.command()
@click.argument(
    "paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(exists=True, file_okay=True, dir_okay=True)
)
@click.option("--now", is_flag=True, help="Ingest here and now (progress bar, summary) instead of enqueueing.")
@click.option(
    "--user",
    "user_id",
    callback=user_id_param,
    help="Attribute files copied from outside the inbox to this user (they go to <inbox>/USER_ID/).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def ingest(paths: tuple[str, ...], now: bool, user_id: str | None, as_json: bool) -> None:
    """Ingest OCR result files, images, PDFs or folders. Files outside the inbox are copied into it first (the
    originals are left alone); inbox files are removed once stored. Without --now, batches are
    enqueued for the consumer (`ingest_files` tasks)."""
    runtime = queue_runtime()  # with --now too: what it stores is analysed by the consumer
    settings = runtime.settings
    files, copied, waiting = collect(paths, settings, user_id)
    if not now:
        count = runtime.triggers.ingest(files)
        summary = {"files": len(files), "copied_into_inbox": copied, "tasks": count, "still_being_written": waiting}
        echo_json(summary) if as_json else click.echo(f"{len(files)} files enqueued in {count} tasks")
        return
    report = IngestReport()
    here: Triggers = _OcrHere(runtime.triggers)  # type: ignore[assignment]
    with progress("ingesting", len(files)) as bar:
        for start in range(0, len(files), settings.ingest_batch):
            chunk = files[start : start + settings.ingest_batch]
            report.merge(ingest_batch(chunk, settings, here))
            bar.update(len(chunk))
    images, report.ocr = report.ocr, []
    if images:
        with progress("OCR", len(images)) as bar:
            for path in images:  # images and PDFs, OCRed here (docs/ocr.md)
                report.merge(ocr_paths([path], settings, runtime.triggers))
                bar.update(1)
    summary = report.summary() | {"files": len(files), "copied_into_inbox": copied, "still_being_written": waiting}
    if as_json:
        echo_json(summary)
    else:
        click.echo(
            f"{summary['stored']} stored, {summary['duplicates'] + summary['already_stored']} already stored, "
            f"{summary['quarantined']} quarantined, {summary['skipped']} skipped, "
            f"{summary['retry'] + waiting} left for a retry"
        )
    if report.retry or waiting:
        raise SystemExit(1)
