"""Is some process still writing this file? Asked through a read lease, the kernel's count of writers.

``fcntl(fd, F_SETLEASE, F_RDLCK)`` on a read-only descriptor is refused with ``EAGAIN`` while any process
(this one included) has the file open for writing; granted, the lease is released at once (``F_UNLCK``).
That answers "can anyone still be writing it" exactly, with no quiet period, for a writer that holds one
open from the first byte to the last (an upload streamed to disk, ``curl -o``, a scanner driver).

It cannot always answer (:data:`UNKNOWN`), and callers then fall back to a long quiet period:

- a lease needs the file's owner or ``CAP_LEASE`` (``EACCES``: the worker runs as another user than the
  writer);
- a lease only sees writers on this kernel, so it is asked only on local filesystems (``LOCAL_FILESYSTEMS``,
  the ``statfs`` type of the file): on NFS, SMB, FUSE or a VM share the writer may be another machine, and
  NFSv4 and SMB even refuse a lease with ``EAGAIN`` when they hold no delegation or oplock;
- any other refusal (``EINVAL``: a filesystem without leases).

While the lease is held (a few microseconds) a process opening the file for writing waits for its release
(with ``O_NONBLOCK`` it gets ``EWOULDBLOCK``), and the kernel signals the holder: the signal is set to
``SIGURG`` (ignored by default) instead of ``SIGIO``, whose default action would kill the worker.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import fcntl
import os
import signal
import stat

# Filesystems whose writers are all on this kernel, so that a granted lease means "no writer anywhere"
# (``statfs`` magic numbers, linux/magic.h): ext2/3/4, xfs, btrfs, tmpfs, ramfs, f2fs, zfs, bcachefs, jfs,
# reiserfs, nilfs2, overlay, vfat, exfat, ntfs3, hfsplus.
LOCAL_FILESYSTEMS = frozenset(
    {
        0xEF53,
        0x58465342,
        0x9123683E,
        0x01021994,
        0x858458F6,
        0xF2F52010,
        0x2FC12FC1,
        0xCA451A4E,
        0x3153464A,
        0x52654973,
        0x3434,
        0x794C7630,
        0x4D44,
        0x2011BAB0,
        0x7366746E,
        0x482B,
    }
)
_F_SETSIG = getattr(fcntl, "F_SETSIG", 10)
_libc = ctypes.CDLL(None, use_errno=True)
_local_devices: dict[int, bool] = {}


class Writers(enum.Enum):
    NONE = "none"  # no process has the file open for writing
    OPEN = "open"  # some process has it open for writing (or it is gone and being replaced: see state())
    UNKNOWN = "unknown"  # cannot be told here: fall back to a quiet period


def _on_local_filesystem(fd: int, dev: int) -> bool:
    """Whether the file open as ``fd`` (on device ``dev``) is on a :data:`LOCAL_FILESYSTEMS` type (cached)."""
    known = _local_devices.get(dev)
    if known is None:
        buf = ctypes.create_string_buffer(256)  # struct statfs: f_type is its first field, a native word
        if _libc.fstatfs(fd, buf) != 0:
            return False
        known = _local_devices[dev] = (ctypes.c_ulong.from_buffer(buf).value & 0xFFFFFFFF) in LOCAL_FILESYSTEMS
    return known


def _lease_state(fd: int) -> Writers:
    try:
        fcntl.fcntl(fd, _F_SETSIG, signal.SIGURG)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        return Writers.OPEN if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK) else Writers.UNKNOWN
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
    except OSError:
        pass  # released with the descriptor anyway
    return Writers.NONE


def state(path_or_fd: str | int) -> Writers:
    """Whether a process holds the regular file ``path_or_fd`` open for writing (see the module doc).

    A path is opened ``O_RDONLY | O_NOFOLLOW | O_NONBLOCK`` after an ``lstat`` (a link, FIFO or device is
    never opened: ``NONE``, the store refuses those by rename); a missing file is ``NONE`` (nothing left to
    protect). A descriptor must be open read-only.
    """
    if isinstance(path_or_fd, int):
        st = os.fstat(path_or_fd)
        if not stat.S_ISREG(st.st_mode):
            return Writers.NONE
        if not _on_local_filesystem(path_or_fd, st.st_dev):
            return Writers.UNKNOWN
        return _lease_state(path_or_fd)
    try:
        st = os.lstat(path_or_fd)
        if not stat.S_ISREG(st.st_mode):
            return Writers.NONE
        fd = os.open(path_or_fd, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        return Writers.NONE
    except OSError:
        return Writers.UNKNOWN
    try:
        return state(fd)
    finally:
        os.close(fd)


def may_be_written(path_or_fd: str | int) -> bool:
    """True unless no process can still be writing the file (a writer holds it open, or it cannot be told)."""
    return state(path_or_fd) is not Writers.NONE


def being_written(path_or_fd: str | int) -> bool:
    """True when a process is known to hold the file open for writing (the check before removing a file)."""
    return state(path_or_fd) is Writers.OPEN


def settled(path_or_fd: str | int, landed: float, now: float, quiet: float) -> bool:
    """May a file found by a scan be taken? No writer; or, where that cannot be told, nothing written or
    moved in for ``quiet`` seconds (``landed`` is the file's ``max(mtime, ctime)``)."""
    found = state(path_or_fd)
    return found is Writers.NONE or (found is Writers.UNKNOWN and now - landed >= quiet)
