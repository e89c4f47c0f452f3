"""Inbox files, handled defensively: stay inside the inbox, never follow a link, never block on a FIFO.

A file is looked at with ``lstat`` first and opened ``O_NOFOLLOW | O_NONBLOCK``; what is read is checked
against the same inode before and after (a file replaced or still growing is retried later, never parsed
half-written). Log lines name a file by a short hash of its inbox path, never by its name (names can
carry patient names).
"""

from __future__ import annotations

import errno
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from worker.filenames import printable
from worker.fsync import sync_dir, sync_file
from worker.userids import is_valid_user_id

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
    """The file cannot be a document (quarantine it); ``reason`` short code, message without content."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
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


def inbox_relative(path: str, inbox: Path, real_dirs: dict[str, tuple[str, int, int]] | None = None) -> str:
    """``path`` relative to the inbox; Skipped if it is outside (``..``, another tree, a linked parent),
    Gone if its folder vanished.

    ``real_dirs`` memoises resolved folders for the span of one batch (a folder's realpath costs an
    ``lstat`` per path component, more than the rest of the checks); each use re-checks the folder's
    device and inode with one ``stat``, so a folder swapped for a symlink meanwhile is resolved again.
    """
    if ".." in path.split(os.sep):
        raise Skipped("outside_inbox")  # the kernel would resolve it through links, abspath does not
    absolute = os.path.abspath(path)
    root = os.path.abspath(inbox)
    if not _under(absolute, root):
        raise Skipped("outside_inbox")
    memo = {} if real_dirs is None else real_dirs
    parent_dir = os.path.dirname(absolute)
    real = {}
    for folder in {parent_dir, root}:
        st = _stat(folder, follow_symlinks=True)
        known = memo.get(folder)
        if known is None or known[1:] != (st.st_dev, st.st_ino):
            known = memo[folder] = (os.path.realpath(folder), st.st_dev, st.st_ino)
        real[folder] = known[0]
    real_parent, real_root = real[parent_dir], real[root]
    if real_parent != real_root and not _under(real_parent, real_root):
        raise Skipped("outside_inbox")  # a symlinked folder pointing out of the inbox
    return absolute[len(root.rstrip(os.sep)) + 1 :]


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


def read_landed(
    path: str, inbox: Path, max_bytes: int, real_dirs: dict[str, tuple[str, int, int]] | None = None
) -> Landed:
    """Read one inbox file safely (see module doc); raises Transient, Refused, Gone or Skipped."""
    rel = inbox_relative(path, inbox, real_dirs)
    user_id = user_of(rel)
    st = _stat(path, follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        raise Skipped("directory")
    if not stat.S_ISREG(st.st_mode):
        raise Refused("not_regular_file", f"not a regular file ({_kind(st.st_mode)})")
    if st.st_size > max_bytes:
        raise Refused("too_large", f"larger than the {max_bytes // (1024 * 1024)} MB limit")
    t0 = time.perf_counter()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise Gone() from None
    except PermissionError:
        raise Refused("unreadable", "permission denied when opening the file") from None
    except OSError as exc:
        raise Transient(f"open_{errno.errorcode.get(exc.errno or 0, 'error')}") from None
    try:
        before = os.fstat(fd)
        if (before.st_dev, before.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(before.st_mode):
            raise Transient("replaced")
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
        raise Transient(f"read_{errno.errorcode.get(exc.errno or 0, 'error')}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if after.st_size != len(data) or after.st_mtime_ns != before.st_mtime_ns:
        raise Transient("changing")
    try:
        now = os.lstat(path)
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
    )


def remove(path: str) -> None:
    """Delete an ingested file (already gone is fine)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def keep(path: str, target: Path) -> None:
    """Move an ingested file to ``target`` (processed copy, 0600), replacing an older copy of the same content.

    Durable before the source goes (:mod:`worker.fsync`): the file is synced before the rename and the folder
    after it; across filesystems the copy and the folder are synced before the source is unlinked.
    """
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    sync_file(path)
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        _copy_then_remove(path, target)
        return
    os.chmod(target, 0o600)
    sync_dir(target.parent)


def _copy_then_remove(path: str, target: Path) -> None:
    """Across filesystems: a synced 0600 copy under a temporary name, renamed into place, folder synced, then unlink."""
    tmp = target.with_name(target.name + ".part")
    with open(path, "rb") as src, open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
        dst.flush()
        os.fchmod(dst.fileno(), 0o600)
        os.fsync(dst.fileno())
    os.replace(tmp, target)
    sync_dir(target.parent)
    remove(path)
