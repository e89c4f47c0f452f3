"""A submission is never stranded: rediscover from the ledger what a killed consumer or watcher left.

huey drops the task a SIGKILLed consumer was running, and a killed watcher forgets what it had not dispatched;
the ``analysis_backlog`` (10 minutes) and the watcher's re-dispatch (three rescans) would find the work, late.
This looks only at the submissions still on their way, so it is cheap enough to run at every consumer start
(:func:`at_startup`) and as the ``submission_backlog`` periodic job (every tick, i.e. each minute):

- ``received`` from the app, whose file is still under its temporary name (a crash between the commit and the
  rename): the synced temporary file is renamed into place;
- ``received`` or ``ocr`` for a while, file in the inbox: ingestion is triggered for it (idempotent; an image or
  PDF is routed to the OCR stage again, whose job lock skips one being OCRed right now);
- ``received`` or ``ocr`` for long, file gone and no trace: ``rejected`` (``lost``: the patient is asked to try again,
  which makes a new submission), announced (:func:`worker.submissions.ledger.record_lost`);
- ``ingested`` for a while: analysis is triggered (idempotent);
- (not in this pass: the ``housekeeping`` job's, every 15 minutes) an orphan temporary file, a crash between the
  write and the commit of its row (:func:`remove_orphan_temps`): removed after an hour — patient data nothing else
  would ever remove.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
import stat
import threading
from typing import Any

from models.clock import ensure_utc, utcnow
from models.submissions import INGESTED, PENDING, Submission
from worker.config import Settings
from worker.periodic import JobContext
from worker.submissions import ledger
from worker.triggers import Triggers

log = logging.getLogger("mediflux.submissions")
SETTLE = _dt.timedelta(seconds=5)  # younger work is the live path's: the watcher or the trigger has it
LOST_AFTER = _dt.timedelta(minutes=15)
BATCH = 500
ORPHAN_AFTER = _dt.timedelta(hours=1)  # a temporary file is committed or discarded within seconds
_TEMP_NAME = re.compile(r"[A-Za-z0-9_-]{22}\.tmp")  # ledger.new_id()'s 22 URL-safe characters, then .tmp
_started = threading.Lock()
_done_at_start = False


def _settle_temp(settings: Settings, sub: Submission) -> bool:
    """Rename the synced temporary file of an app submission into place; True if the final file is there."""
    final = settings.inbox / str(sub.inbox_path)
    if final.exists():
        return True
    temp = final.parent / f"{sub.id}.tmp"
    if not temp.exists():
        return False
    os.rename(temp, final)
    fd = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def _old_temps(folder_fd: int, older_than: float) -> list[str]:
    """The names of the old ``<submission id>.tmp`` regular files in this folder."""
    names = []
    for e in os.scandir(folder_fd):
        if not _TEMP_NAME.fullmatch(e.name):
            continue
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mtime < older_than:
            names.append(e.name)
    return names


def remove_orphan_temps(settings: Settings, now: _dt.datetime) -> int:
    """Remove ``<inbox>/<user>/<id>.tmp`` files older than :data:`ORPHAN_AFTER` (by mtime) whose id has no
    submission row: a crash between ``write_temp`` and the commit of the row left them. A temporary file whose row
    exists is the rename's (:func:`_settle_temp`); no other file is ever touched, and no symlink followed."""
    older_than = (ensure_utc(now) - ORPHAN_AFTER).timestamp()
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        inbox_fd = os.open(settings.inbox, flags)
    except FileNotFoundError:
        return 0
    try:
        return _remove_orphans_in(inbox_fd, flags, older_than)
    finally:
        os.close(inbox_fd)


def _remove_orphans_in(inbox_fd: int, flags: int, older_than: float) -> int:
    removed = 0
    for folder in [e.name for e in os.scandir(inbox_fd) if e.is_dir(follow_symlinks=False)]:
        try:
            fd = os.open(folder, flags, dir_fd=inbox_fd)
        except OSError:  # gone, replaced or unreadable meanwhile: the next pass sees it
            continue
        try:
            names = _old_temps(fd, older_than)
            for start in range(0, len(names), BATCH):
                chunk = names[start : start + BATCH]
                ids = [name[: -len(".tmp")] for name in chunk]
                known = {str(r.id) for r in Submission.select(Submission.id).where(Submission.id.in_(ids))}
                for name in chunk:
                    if name[: -len(".tmp")] in known:
                        continue
                    try:
                        os.unlink(name, dir_fd=fd)
                    except FileNotFoundError:
                        continue
                    removed += 1
        finally:
            os.close(fd)
    if removed:
        log.warning("removed %d orphan temporary upload files (a crash before their submission was recorded)", removed)
    return removed


def rediscover(settings: Settings, triggers: Triggers, now: _dt.datetime | None = None) -> dict[str, int]:
    """One pass over the submissions on their way (see module doc); returns counts."""
    now = now or utcnow()
    counts = {"ingest": 0, "analyze": 0, "lost": 0, "renamed": 0}
    settled = now - SETTLE
    paths: list[str] = []
    for sub in (
        Submission.select()
        .where(Submission.state.in_(PENDING) & (Submission.updated_at <= settled))
        .order_by(Submission.created_at)
        .limit(BATCH)
    ):
        if sub.inbox_path is None:
            continue
        temp_there = (
            sub.origin == "app" and (settings.inbox / str(sub.inbox_path)).parent.joinpath(f"{sub.id}.tmp").exists()
        )
        if _settle_temp(settings, sub):
            counts["renamed"] += int(temp_there)
            paths.append(str(settings.inbox / str(sub.inbox_path)))
        elif sub.updated_at <= now - LOST_AFTER:
            counts["lost"] += int(ledger.record_lost(sub.id, now))  # announced, like every final state
    if paths:
        triggers.ingest(paths)
        counts["ingest"] = len(paths)
    ids = [
        int(r.document_id or 0)
        for r in Submission.select(Submission.document)
        .where((Submission.state == INGESTED) & (Submission.updated_at <= settled) & Submission.document.is_null(False))
        .order_by(Submission.updated_at)
        .limit(BATCH)
    ]
    if ids:
        triggers.analyze(sorted(set(ids)))
        counts["analyze"] = len(set(ids))
    if any(counts.values()):
        log.info("submissions rediscovered: %s", counts)
    return counts


def at_startup(settings: Settings, triggers: Triggers) -> None:
    """Once per process, when the consumer starts (its threads all call it): nothing waits for the next job.

    Unlike the periodic pass it does not wait for work to settle: this process has just started, so nothing of
    it is in flight."""
    global _done_at_start
    with _started:
        if _done_at_start:
            return
        _done_at_start = True
    try:
        rediscover(settings, triggers, utcnow() + SETTLE)
    except Exception as exc:  # noqa: BLE001 — the periodic job runs it again
        log.warning("submission rediscovery at start failed: %s", type(exc).__name__)


def run(ctx: JobContext) -> dict[str, Any]:
    """The ``submission_backlog`` periodic job."""
    return rediscover(ctx.settings, ctx.triggers)
