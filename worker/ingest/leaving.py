"""How a file leaves the inbox: deleted or kept once stored, or quarantined when it can never be a document.

Every exit goes through the folder descriptor the file was found by (:mod:`worker.dirfd`), never its path again,
and waits while a process still holds the file open for writing (:mod:`writers`): its writer would go on writing
into a removed inode. The caller has made the commit durable first (:mod:`models.durability`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import peewee

from models.durability import CommitNotDurable
from worker import metrics, quarantine
from worker.config import Settings
from worker.dirfd import Changed, Place
from worker.errors import safe_error
from worker.filenames import ref
from worker.ingest import writers
from worker.ingest.files import Landed, Transient, keep, remove
from worker.ingest.owner import folder_user
from worker.ingest.parse import guess_format
from worker.ingest.report import IngestReport
from worker.submissions import ledger

log = logging.getLogger("mediflux.ingest")


def quarantine_file(
    path: str,
    landed: Landed | None,
    reason: str,
    message: str,
    settings: Settings,
    report: IngestReport,
    place: Place | None = None,
    owner: str | None = None,
) -> None:
    """Move a file that can never become a document to quarantine, with its sidecar (counted in ``report``).

    Always from where it was found (``place``, or the landed file's): never by its path again. The sidecar names
    the file's owner (:mod:`owner`), read or not, so erasure and export find it.
    """
    at = landed.place if landed else place
    if left_to_writer(path, at, report):
        return
    data = landed.data if landed else b""
    if at is None:
        report.skipped += 1
        report.count(reason)
        return
    user_id = owner or (landed.user_id if landed else folder_user(path, settings.inbox))
    if not _record_rejection(path, landed, user_id, reason, settings, report):
        return
    try:
        moved = quarantine.move_in(
            path,
            settings.home,
            reason,
            message,
            format_guess=guess_format(data, path) if data else None,
            size=len(data) if landed else None,
            user_id=user_id,
            at=at,
        )
    except OSError as err:  # e.g. disk full while writing the sidecar: transient, try again later
        report.retry.append(path)
        report.count("quarantine_failed")
        log.warning("could not quarantine %s: %s", ref(path), type(err).__name__)
        return
    if moved:
        report.quarantined += 1
        metrics.record_quarantined(reason)
    else:
        report.skipped += 1
    report.count(reason)


def _record_rejection(
    path: str, landed: Landed | None, user_id: str | None, reason: str, settings: Settings, report: IngestReport
) -> bool:
    """The submission is ``rejected`` (committed) before its file moves; a database fault leaves the file."""
    rel = landed.rel if landed else os.path.relpath(os.path.abspath(path), os.path.abspath(settings.inbox))
    sha = hashlib.sha256(landed.data).hexdigest() if landed else None
    try:
        ledger.record_rejected(rel, user_id, sha, len(landed.data) if landed else None, reason)
    except (peewee.OperationalError, peewee.InterfaceError, CommitNotDurable) as exc:
        report.retry.append(path)
        report.count("database_unavailable")
        log.warning("could not record the rejection of %s: %s", ref(path), type(exc).__name__)
        return False
    return True


def left_to_writer(path: str, place: Place | None, report: IngestReport) -> bool:
    """Never unlink or move a file a process holds open for writing (its writer would go on writing into a
    removed inode): asked again right before, through the folder descriptor it was found by (never the path
    again); such a file stays and is reported for a retry."""
    if place is None or not _being_written(place):
        return False
    report.retry.append(path)
    report.count("being_written")
    return True


def _being_written(place: Place) -> bool:
    try:
        fd = place.open()
    except (Changed, OSError):
        return False  # gone or replaced: the removal step itself sees it and leaves the name alone
    try:
        return writers.being_written(fd)
    finally:
        os.close(fd)


def leave_inbox(landed: Landed, keep_at: Path | None, report: IngestReport) -> None:
    """After the (durable) commit: delete the stored file, or move it to ``keep_at`` (a processed copy)."""
    path = landed.path
    if left_to_writer(path, landed.place, report):
        return
    try:
        if keep_at is not None:
            keep(landed, keep_at)
        else:
            remove(landed)
    except Transient as exc:  # its name holds another file now: that one is left for its own pass
        report.retry.append(path)
        report.count(exc.reason)
    except OSError as exc:
        # The row is committed; the file stays and the next pass only removes it (no second row).
        report.retry.append(path)
        report.count("remove_failed")
        log.warning("stored %s but could not remove it: %s", ref(path), safe_error(exc).split(":")[0])
