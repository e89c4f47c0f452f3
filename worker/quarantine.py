"""Quarantine: where ingestion puts files that can never become documents, and the one way to list them.

Layout (the only module that spells it): ``<home>/quarantine/<name>`` beside ``<name>.error.json``, a sidecar
holding the reason, the message (never content), the format guess, the size, the time (``quarantined_at``, UTC),
the user id when known and the printable original name (NIRs masked in the name, the message and the name the
file takes in quarantine). Ingestion writes it (:func:`move_in`); the CLI, the
dashboard, retention pruning, erasure and export all read it through :func:`entries`, so they see one set.

The listing rule, for every name in the folder:

- a folder is never an entry (ingestion never quarantines one);
- a name ending in ``.error.json`` is a sidecar, never a quarantined file (ingestion names a landed
  ``x.error.json`` ``x.error.json.q``); its entry is the name without the suffix;
- an entry is a file with its sidecar; a file without one (``sidecar`` None, reason ``unknown``), still
  retriable; or an *orphan*: a sidecar whose file is missing (a crash between the two steps of :func:`move_in`,
  or a half-written ``.tmp-…`` sidecar) or whose entry name itself ends in ``.error.json`` (a sidecar of a
  sidecar). An orphan is listed so that pruning, erasure and purge remove it, and is never retried.

Names may carry patients' names: logs use :func:`worker.filenames.ref`; only the operator's CLI shows names.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.clock import utcnow
from models.private import private_dir
from worker.dirfd import Changed, Place, open_dir, tighten
from worker.filenames import printable, ref
from worker.fsync import sync_dir, sync_file
from worker.privacy import mask_text
from worker.userids import is_valid_user_id

log = logging.getLogger("mediflux.ingest")
SIDECAR = ".error.json"
NAME_MAX = 255
_TMP_PREFIX = ".tmp-"  # a sidecar being written: ".tmp-<name>.error.json", an orphan if a crash leaves it
_SIDECAR_MAX_BYTES = 1 << 20  # a sidecar is a few hundred bytes; anything larger is not one of ours


@dataclass(frozen=True)
class Entry:
    """One quarantine entry, as the listing rule (module doc) sees it."""

    name: str
    path: Path  # the quarantined file (missing for an orphan)
    sidecar: dict[str, Any] | None  # None when missing, unreadable or not a JSON object
    size: int | None  # bytes of the file on disk; None for an orphan
    arrived_at: float  # epoch seconds: newest mtime/ctime of the file and its sidecar (a rename changes ctime)
    orphan: bool  # no file to retry: only a sidecar is left
    sidecar_size: int | None  # bytes of the sidecar on disk; None when there is none

    @property
    def sidecar_path(self) -> Path:
        return self.path.with_name(self.name + SIDECAR)

    @property
    def reason(self) -> str:
        value = (self.sidecar or {}).get("reason")
        return value if isinstance(value, str) and value else "unknown"

    @property
    def user_id(self) -> str | None:
        """The user the sidecar names (``user_id``), when it is a valid user id; None otherwise."""
        value = (self.sidecar or {}).get("user_id")
        return value if isinstance(value, str) and is_valid_user_id(value) else None


def folder(home: Path) -> Path:
    return home / "quarantine"


def is_sidecar(name: str) -> bool:
    return name.endswith(SIDECAR)


def free_name(directory: Path, name: str) -> str:
    """A free name in ``directory`` that leaves room for the sidecar suffix (names can be 255 bytes long).

    Only a quarantined *file* takes a name: a sidecar left without its file (a crash between the two steps of
    :func:`move_in`) is overwritten when the same file comes back.
    """
    raw = os.fsencode(name)
    if raw.endswith(SIDECAR.encode()):
        raw += b".q"  # would be mistaken for a sidecar
    room = NAME_MAX - len(SIDECAR) - len(_TMP_PREFIX) - 7
    if len(raw) > room:
        digest = hashlib.sha256(raw).hexdigest()[:10]
        raw = raw[: room - 11].decode("utf-8", "ignore").encode() + b"-" + digest.encode()
    candidate = os.fsdecode(raw)
    n = 1
    while os.path.lexists(directory / candidate):
        n += 1
        candidate = os.fsdecode(raw) + f".{n}"
    return candidate


def write_sidecar(path: Path, sidecar: dict[str, Any]) -> int:
    """Write through a temporary name and a rename: a reader sees a whole sidecar or none. Returns its size."""
    body = json.dumps(sidecar, ensure_ascii=False, indent=1).encode("utf-8")
    tmp = path.with_name(_TMP_PREFIX + path.name)
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    sync_dir(path.parent)  # the sidecar is durable before the file it explains is moved
    return len(body)


def move_in(
    path: str,
    home: Path,
    reason: str,
    message: str,
    *,
    format_guess: str | None = None,
    size: int | None = None,
    user_id: str | None = None,
    at: Place | None = None,
) -> Entry | None:
    """Move ``path`` into quarantine with its sidecar; None when it could not be moved (logged, left in place).

    The sidecar is written first, then the file renamed next to it: a crash in between leaves the file in the
    inbox (quarantined again on the next pass, over the orphan sidecar), never a quarantined file without reason.
    The file is never opened (safe for FIFOs, devices, links), except to copy a regular file without other hard
    links across filesystems. With ``at`` (ingestion) the file is looked at and moved through its folder's
    descriptor, and only while its name still holds the inode found there (:mod:`worker.dirfd`); ``path``
    then only names it.
    Durable before the source goes (:mod:`worker.fsync`): a regular file is synced before the rename and the
    folder after it; a copy and the folder are synced before the source is unlinked.
    """
    target_dir = private_dir(folder(home))
    name = free_name(target_dir, mask_text(os.path.basename(path)))  # no NIR in a name that stays
    try:
        st = os.lstat(path) if at is None else os.stat(at.name, dir_fd=at.dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if at is not None and (st.st_dev, st.st_ino) != (at.dev, at.ino):
        log.warning("not quarantining %s (%s): replaced meanwhile; left in place", ref(path), reason)
        return None
    sidecar = {
        "reason": reason,
        "message": mask_text(message),
        "format_guess": format_guess,
        "size": size if size is not None else st.st_size,
        "quarantined_at": utcnow().isoformat(),
        "user_id": user_id,
        "original_name": mask_text(printable(os.path.basename(path))),
    }
    target = target_dir / name
    sidecar_path = target_dir / (name + SIDECAR)
    sidecar_size = write_sidecar(sidecar_path, sidecar)
    if stat.S_ISREG(st.st_mode):
        _sync_source(path, at)
    try:
        _move(path, at, st, target_dir, name)
    except (FileNotFoundError, Changed):
        sidecar_path.unlink(missing_ok=True)
        return None
    except OSError as exc:
        sidecar_path.unlink(missing_ok=True)
        log.warning(
            "cannot quarantine %s (%s): %s; left in place",
            ref(path),
            reason,
            errno.errorcode.get(exc.errno or 0, "error"),
        )
        return None
    landed = _lstat(target)
    if landed is not None and stat.S_ISREG(landed.st_mode):
        _tighten(target_dir, name, landed.st_ino)
    sync_dir(target_dir)  # the new name is durable before anything counts on it
    log.warning("quarantined %s: %s", ref(path), reason)
    moved = _lstat(target) or st  # (an operator may already have moved it on)
    return Entry(name, target, sidecar, moved.st_size, _arrival(moved), False, sidecar_size)


def _tighten(directory: Path, name: str, ino: int) -> None:
    """A quarantined file is 0600 whatever mode its writer gave it (:func:`worker.dirfd.tighten`)."""
    try:
        fd = open_dir(directory)
    except OSError:
        return
    try:
        tighten(fd, name, ino)
    finally:
        os.close(fd)


def _sync_source(path: str, at: Place | None) -> None:
    """fsync the file to be moved (through its folder descriptor when found by one): its writer may never have."""
    if at is None:
        sync_file(path)
        return
    try:
        fd = at.open()
    except (Changed, OSError):
        return  # gone, replaced or unreadable: the move itself decides (an unreadable file has no data to lose)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _move(path: str, at: Place | None, st: os.stat_result, directory: Path, name: str) -> None:
    """Rename the file to ``directory/name`` (through ``at`` when given; FileNotFoundError if it is gone).

    Across filesystems a regular file is copied, then unlinked, but only one without other hard links: the
    copy would read a file that may live outside the inbox.
    """
    target = directory / name
    try:
        if at is None:
            os.rename(path, target)
            return
        fd = open_dir(directory)
        try:
            if not at.rename(fd, name):
                raise FileNotFoundError(path)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno != errno.EXDEV or not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            raise
        if at is None:
            shutil.copy2(path, target, follow_symlinks=False)
            sync_file(target)
            sync_dir(directory)
            os.unlink(path)
            return
        src = at.open()
        try:
            with open(src, "rb", closefd=False) as f_in, open(target, "xb") as f_out:
                shutil.copyfileobj(f_in, f_out)
                f_out.flush()
                os.fsync(f_out.fileno())
        finally:
            os.close(src)
        sync_dir(directory)  # the copy is durable before the source goes
        at.unlink()


def _lstat(path: Path) -> os.stat_result | None:
    """``lstat``, None when missing or a folder (a folder is never part of an entry)."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return None if stat.S_ISDIR(st.st_mode) else st


def _arrival(st: os.stat_result) -> float:
    return max(st.st_mtime, st.st_ctime)


def _read_sidecar(path: Path, st: os.stat_result) -> dict[str, Any] | None:
    """The sidecar's JSON object; None if it is not a small regular file holding one (never follows a link)."""
    if not stat.S_ISREG(st.st_mode) or st.st_size > _SIDECAR_MAX_BYTES:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as f:
            data = json.loads(f.read(_SIDECAR_MAX_BYTES).decode("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _entry(directory: Path, name: str) -> Entry | None:
    """The entry called ``name`` in ``directory`` by the listing rule, or None when there is none."""
    path = directory / name
    file_st = None if is_sidecar(name) else _lstat(path)
    side_st = _lstat(directory / (name + SIDECAR))
    if file_st is None and side_st is None:
        return None
    sidecar = _read_sidecar(directory / (name + SIDECAR), side_st) if side_st else None
    arrived = max(_arrival(st) for st in (file_st, side_st) if st is not None)
    return Entry(
        name=name,
        path=path,
        sidecar=sidecar,
        size=file_st.st_size if file_st else None,
        arrived_at=arrived,
        orphan=file_st is None,
        sidecar_size=side_st.st_size if side_st else None,
    )


def _names(directory: Path) -> Iterator[str]:
    """Entry names in ``directory``: every non-folder name, sidecars mapped to their entry's name."""
    try:
        listing = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return
    seen: set[str] = set()
    for item in listing:
        if item.is_dir(follow_symlinks=False):
            continue
        name = item.name[: -len(SIDECAR)] if is_sidecar(item.name) else item.name
        if name not in seen:
            seen.add(name)
            yield name


def entries(home: Path) -> list[Entry]:
    """Every entry of the quarantine folder (files, files without sidecar, orphans), oldest arrival first."""
    directory = folder(home)
    found = [e for e in (_entry(directory, name) for name in _names(directory)) if e is not None]
    return sorted(found, key=lambda e: (e.arrived_at, e.name))


def find(home: Path, name: str) -> Entry:
    """The entry called ``name`` (FileNotFoundError when the listing has none: a bad name is never a path)."""
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        raise FileNotFoundError(name)
    entry = _entry(folder(home), name)
    if entry is None:
        raise FileNotFoundError(name)
    return entry


def retry(home: Path, inbox: Path, name: str) -> Path:
    """Put a quarantined file back into the inbox (its user folder when known), drop its sidecar; new path.

    FileNotFoundError for an unknown name and for an orphan (there is no file to retry). A file of the same
    name already in the inbox is never overwritten.
    """
    entry = find(home, name)
    if entry.orphan:
        raise FileNotFoundError(name)
    user_id = entry.user_id
    target_dir = private_dir(inbox / user_id if user_id else inbox)
    target = target_dir / name
    n = 1
    while os.path.lexists(target):
        n += 1
        target = target_dir / f"retry{n}-{name}"
    os.rename(entry.path, target)
    entry.sidecar_path.unlink(missing_ok=True)
    return target


def remove(entry: Entry) -> list[int]:
    """Delete the entry, file first and sidecar last (the sidecar names the user: it is what a re-run finds).

    Either may already be gone; links are removed, never followed. Returns the sizes of what was deleted.
    """
    removed = []
    for path, is_part in ((entry.path, not entry.orphan), (entry.sidecar_path, True)):
        if not is_part:
            continue  # an orphan's name may be another entry's sidecar: leave that one alone
        try:
            size = os.lstat(path).st_size
            os.unlink(path)
        except FileNotFoundError:
            continue
        removed.append(size)
    return removed


def purge(home: Path) -> int:
    """Delete every entry (orphans included); returns the number of quarantined files removed."""
    files = 0
    for entry in entries(home):
        remove(entry)
        files += not entry.orphan
    return files
