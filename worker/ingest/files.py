"""Inbox files, handled defensively: stay inside the inbox, never follow a link, never block on a FIFO.

Every step goes through directory descriptors (:class:`InboxDirs`, one set per batch): the inbox is opened
once, each folder below it component by component, every one ``O_DIRECTORY | O_NOFOLLOW``, and the file
relative to its folder (``O_NOFOLLOW | O_NONBLOCK``). Removing, keeping and quarantining use the same
folder descriptor and first check that the name still holds the inode that was read: a folder swapped
for a symlink after a check can no longer send a read, an unlink or a rename outside the inbox. A file
with other hard links (``st_nlink > 1``) may be a file from elsewhere linked in: it is refused unread.
What is read is checked against the same inode before and after (a file replaced or still growing is
retried later, never parsed half-written). Log lines name a file by a short hash of its inbox path,
never by its name (names can carry patient names).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from models.private import private_dir
from worker.dirfd import Changed, Folders, LinkedFolder, Place, open_dir, tighten
from worker.filenames import printable
from worker.ingest import writers
from worker.userids import is_valid_user_id

log = logging.getLogger("mediflux.ingest")
NO_USER = "_nouser"
# errnos that mean "try again later", never "bad file"
TRANSIENT_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EAGAIN,
    errno.EBUSY,
    errno.EINTR,
    errno.EIO,
    errno.ENOMEM,
    errno.ETIMEDOUT,
    errno.ESTALE,
    errno.EMFILE,
    errno.ENFILE,
    errno.ELOOP,
}


class Transient(Exception):
    """Leave the file where it is and retry later (``reason`` is a short code)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Refused(Exception):
    """The file cannot be a document (quarantine it); ``reason`` short code, message without content.

    ``place`` is where the file was found (set by :func:`read_landed`): quarantine moves it from there.
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        self.place: Place | None = None
        super().__init__(message)


class Gone(Exception):
    """The file disappeared (already handled by someone else, or moved away)."""


class Skipped(Exception):
    """Not a file to ingest (a folder, a path outside the inbox)."""


@dataclass(frozen=True)
class Landed:
    """A regular file read from the inbox: its bytes and where it was."""

    path: str
    rel: str  # inbox-relative, printable (undecodable bytes replaced)
    user_id: str | None  # from the user folder
    data: bytes
    inode: int
    mtime_ns: int
    mtime: float
    read_ms: float
    place: Place | None = None  # its folder's descriptor and name: what removal goes through


def _lexical_rel(path: str, inbox: Path) -> str:
    """``path`` relative to the inbox, by its spelling alone; Skipped if it is outside (``..``, another tree)."""
    if ".." in path.split(os.sep):
        raise Skipped("outside_inbox")  # the kernel would resolve it through links, abspath does not
    absolute = os.path.abspath(path)
    root = os.path.abspath(inbox)
    if not _under(absolute, root):
        raise Skipped("outside_inbox")
    return absolute[len(root.rstrip(os.sep)) + 1 :]


def inbox_relative(path: str, inbox: Path) -> str:
    """``path`` relative to the inbox; Skipped if it is outside (``..``, another tree, a linked parent),
    Gone if its folder vanished.

    For sorting a command's arguments (copy in or ingest in place); what ingestion reads is found again
    through directory descriptors (:func:`locate`), never through this answer.
    """
    rel = _lexical_rel(path, inbox)
    parent, root = os.path.dirname(os.path.abspath(path)), os.path.abspath(inbox)
    _stat(parent, follow_symlinks=True)
    real_parent, real_root = os.path.realpath(parent), os.path.realpath(root)
    if real_parent != real_root and not _under(real_parent, real_root):
        raise Skipped("outside_inbox")  # a symlinked folder pointing out of the inbox
    return rel


def _stat(path: str, follow_symlinks: bool) -> os.stat_result:
    """``stat``/``lstat`` with the module's outcomes: Gone if missing, Transient on any other error."""
    try:
        return os.stat(path, follow_symlinks=follow_symlinks)
    except FileNotFoundError:
        raise Gone() from None
    except OSError as exc:
        name = "stat" if follow_symlinks else "lstat"
        raise Transient(f"{name}_{errno.errorcode.get(exc.errno or 0, 'error')}") from None


def _under(path: str, root: str) -> bool:
    """``path`` lies strictly below ``root`` (both absolute and normalised)."""
    return path.startswith(root.rstrip(os.sep) + os.sep) and len(path) > len(root.rstrip(os.sep)) + 1


def user_of(rel: str) -> str | None:
    """User named by the first folder of ``rel`` (None for files directly in the inbox)."""
    parts = rel.split(os.sep)
    if len(parts) == 1:
        return None
    folder = parts[0]
    if not is_valid_user_id(folder):  # ASCII only: an undecodable name (surrogate escapes) is refused too
        raise Refused("invalid_user_folder", "the user folder is not a valid user id")
    return folder


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "special file"


def _errno(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, "error")


def locate(path: str, dirs: Folders) -> tuple[str, Place, os.stat_result]:
    """Find ``path`` through the batch's folder descriptors: (inbox-relative path, place, its ``lstat``).

    Skipped if the path is outside the inbox or a folder on the way is a symlink (wherever it points); Gone
    if it is missing; Transient on any other error, the inbox itself being a symlink included.
    """
    rel = _lexical_rel(path, Path(dirs.root))
    *folders, name = rel.split(os.sep)
    first = dirs.root_error is None
    try:
        dirs.root_fd()
    except LinkedFolder:
        if first:  # once per batch
            log.warning("the inbox is a symlink: set MEDIFLUX_INBOX to the folder it points to")
        raise Transient("inbox_is_symlink") from None
    except FileNotFoundError:
        raise Gone() from None
    except OSError as exc:
        raise Transient(f"inbox_{_errno(exc)}") from None
    try:
        dir_fd = dirs.folder(folders)
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except LinkedFolder:
        raise Skipped("outside_inbox") from None
    except (FileNotFoundError, NotADirectoryError):
        raise Gone() from None
    except OSError as exc:
        raise Transient(f"open_dir_{_errno(exc)}") from None
    return rel, Place(dir_fd, name, st.st_dev, st.st_ino), st


def read_landed(path: str, dirs: Folders, max_bytes: int) -> Landed:
    """Read one inbox file safely (see module doc); raises Transient, Refused, Gone or Skipped."""
    rel, place, st = locate(path, dirs)
    try:
        return _read(path, rel, place, st, max_bytes)
    except Refused as exc:
        exc.place = place
        raise


def _read(path: str, rel: str, place: Place, st: os.stat_result, max_bytes: int) -> Landed:
    user_id = user_of(rel)
    if stat.S_ISDIR(st.st_mode):
        raise Skipped("directory")
    if not stat.S_ISREG(st.st_mode):
        raise Refused("not_regular_file", f"not a regular file ({_kind(st.st_mode)})")
    if st.st_nlink > 1:
        raise Refused("hard_link", "the file has other hard links (it may be a file from outside the inbox)")
    if st.st_size > max_bytes:
        raise Refused("too_large", f"larger than the {max_bytes // (1024 * 1024)} MB limit")
    t0 = time.perf_counter()
    try:
        fd = place.open()
    except FileNotFoundError:
        raise Gone() from None
    except PermissionError:
        raise Refused("unreadable", "permission denied when opening the file") from None
    except Changed:
        raise Transient("replaced") from None
    except OSError as exc:
        raise Transient(f"open_{_errno(exc)}") from None
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise Transient("replaced")
        if before.st_nlink > 1:
            raise Refused("hard_link", "the file has other hard links (it may be a file from outside the inbox)")
        if writers.being_written(fd):
            raise Transient("being_written")  # a writer still holds it open: never read a prefix
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise Refused("too_large", f"larger than the {max_bytes // (1024 * 1024)} MB limit")
        after = os.fstat(fd)
    except PermissionError:
        raise Refused("unreadable", "permission denied when reading the file") from None
    except OSError as exc:
        raise Transient(f"read_{_errno(exc)}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if after.st_size != len(data) or after.st_mtime_ns != before.st_mtime_ns:
        raise Transient("changing")
    try:
        now = os.stat(place.name, dir_fd=place.dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        raise Gone() from None
    if now.st_ino != before.st_ino or now.st_mtime_ns != before.st_mtime_ns or now.st_size != len(data):
        raise Transient("replaced")
    return Landed(
        path,
        printable(rel),
        user_id,
        data,
        before.st_ino,
        before.st_mtime_ns,
        before.st_mtime,
        round((time.perf_counter() - t0) * 1000, 2),
        place,
    )


def _place(landed: Landed) -> Place:
    if landed.place is None:
        raise ValueError("a landed file without its place cannot be removed")
    return landed.place


def remove(landed: Landed) -> None:
    """Delete an ingested file through its folder's descriptor (already gone is fine).

    Transient (``changed_before_removal``) when its name now holds another file: that one is left alone.
    """
    try:
        _place(landed).unlink()
    except Changed:
        raise Transient("changed_before_removal") from None


def keep(landed: Landed, target: Path) -> None:
    """Move an ingested file to ``target`` (processed copy, 0600), replacing an older copy of the same content.

    Moved through the folder descriptors (Transient ``changed_before_removal`` as for :func:`remove`); the mode
    is set through a descriptor on the moved inode, and only while it has no other link. Durable before the
    source goes (:mod:`worker.fsync`): the file is synced before the rename and the folder after it; across
    filesystems the copy and the folder are synced before the source is unlinked.
    """
    place = _place(landed)
    _sync_place(place)
    private_dir(target.parent)
    dst_fd = open_dir(target.parent)
    try:
        try:
            if not place.rename(dst_fd, target.name):
                return
        except Changed:
            raise Transient("changed_before_removal") from None
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            _copy_across(place, dst_fd, target.name)
        else:
            os.fsync(dst_fd)  # the new name is durable
        tighten(dst_fd, target.name, place.ino)
    finally:
        os.close(dst_fd)


def _sync_place(place: Place) -> None:
    """fsync the file to be moved, through its folder descriptor (its writer may never have synced it)."""
    try:
        fd = place.open()
    except Changed:
        raise Transient("changed_before_removal") from None
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_across(place: Place, dst_fd: int, name: str) -> None:
    """``keep`` across filesystems: copy from the inode that was read, then remove it from the inbox."""
    tmp = name + ".part"
    try:
        src = place.open()
    except Changed:
        raise Transient("changed_before_removal") from None
    try:
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dst_fd)
        try:
            while chunk := os.read(src, 1 << 20):
                os.write(out, chunk)
            os.fsync(out)
        finally:
            os.close(out)
    finally:
        os.close(src)
    os.rename(tmp, name, src_dir_fd=dst_fd, dst_dir_fd=dst_fd)
    os.fsync(dst_fd)  # the copy is durable under its name before the source goes
    try:
        place.unlink()
    except Changed:
        raise Transient("changed_before_removal") from None
