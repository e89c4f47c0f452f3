"""Put a file, or a folder's entries, on stable storage before the step that depends on it.

A move out of the inbox (to ``processed/`` or to quarantine) must not leave a power cut with neither a source nor
a whole target. The rule, for the one who moves (``worker.ingest.files.keep``, ``worker.quarantine.move_in``):

- a rename on one filesystem: fsync the file first (the writer that dropped it may never have synced its data),
  rename (atomic: the file is under one name or the other), then fsync the target folder, which makes the new name
  durable;
- a copy across filesystems: write the copy under a temporary name, fsync it, rename it into place, fsync the
  target folder, and only then remove the source.

Descriptors opened here are read-only, ``O_NOFOLLOW | O_NONBLOCK`` (never a FIFO's writer wait), and only a regular
file is synced: a symlink, FIFO or device has no data of its own to lose.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def sync_file(path: str | Path) -> bool:
    """fsync the regular file at ``path``; False (nothing synced) when it is not one or cannot be opened to read.

    A file we may not open (an unreadable upload being quarantined) is moved as it is: its data could not have
    been stored anyway.
    """
    try:
        fd = os.open(path, _FLAGS)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        os.fsync(fd)
        return True
    finally:
        os.close(fd)


def sync_dir(path: str | Path) -> None:
    """fsync the folder ``path`` so that the names created, renamed or removed in it are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
