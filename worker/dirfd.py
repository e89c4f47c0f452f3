"""Directory descriptors: folders opened once, component by component, and files named relative to them.

Why: a path that was checked and is then used again is resolved again by the kernel. A user folder swapped for a
symlink between the check and the use sent a read, an unlink or a rename to a folder outside the inbox. Here every
folder is opened ``O_DIRECTORY | O_NOFOLLOW`` relative to its parent, starting from the root opened the same way,
and a file is then read, unlinked or renamed relative to its folder's descriptor (``dir_fd``): the descriptor keeps
meaning the folder that was opened, whatever later happens to its name. Before a file is removed or moved, its name
must still hold the inode that was read (:meth:`Place.holds_it`), otherwise it is left alone.

Used by ingestion (inbox files) and quarantine (moving them out). POSIX only (``dir_fd`` support).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class LinkedFolder(Exception):
    """A folder on the way is a symlink (never followed: it may point anywhere)."""


class Changed(Exception):
    """The name no longer holds the file that was read (replaced meanwhile): it is left where it is."""


@dataclass(frozen=True)
class Place:
    """A file as found: its folder's descriptor (owned by a :class:`Folders`), its name there, the inode seen."""

    dir_fd: int
    name: str
    dev: int
    ino: int

    def holds_it(self) -> bool | None:
        """True if the name still holds the inode seen, False if another file took it, None if it is gone."""
        try:
            st = os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino) == (self.dev, self.ino)

    def check(self) -> bool:
        """False if the file is gone; Changed if its name holds another file now (see :meth:`holds_it`)."""
        held = self.holds_it()
        if held is False:
            raise Changed()
        return bool(held)

    def unlink(self) -> None:
        """Delete the file, after :meth:`check` (already gone is fine)."""
        if self.check():
            try:
                os.unlink(self.name, dir_fd=self.dir_fd)
            except FileNotFoundError:
                pass

    def rename(self, dst_dir_fd: int, dst_name: str) -> bool:
        """Move the file to ``dst_name`` in ``dst_dir_fd`` (replacing it), after :meth:`check`; False if gone."""
        if not self.check():
            return False
        try:
            os.rename(self.name, dst_name, src_dir_fd=self.dir_fd, dst_dir_fd=dst_dir_fd)
        except FileNotFoundError:
            return False
        return True

    def open(self) -> int:
        """A read-only descriptor on the file (never a link, never blocking), checked to be the inode seen."""
        fd = os.open(self.name, FILE_FLAGS, dir_fd=self.dir_fd)
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (self.dev, self.ino):
            os.close(fd)
            raise Changed()
        return fd


def open_dir(path: Path | str) -> int:
    """A descriptor on one of the worker's own folders (``processed/…``, ``quarantine/``: under its home, which
    only the worker writes; an operator may have made them links, so links are followed here)."""
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


class Folders:
    """The folders below one root, opened for the span of one batch and closed with it (a context manager).

    The root is opened once (``O_NOFOLLOW``: a root that is itself a symlink is refused, :class:`LinkedFolder`;
    a failure is kept and raised again for the rest of the batch);
    :meth:`folder` walks each path afresh from it, so a folder replaced meanwhile is never trusted from an earlier
    walk. Descriptors on the same folder (device, inode) are shared, so a batch holds one per folder it touched.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = root
        self._root_fd: int | None = None
        self.root_error: Exception | None = None  # why the root could not be opened, for the whole batch
        self._held: dict[tuple[int, int], int] = {}

    def __enter__(self) -> Folders:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        for fd in self._held.values():
            os.close(fd)
        self._held.clear()
        if self._root_fd is not None:
            os.close(self._root_fd)
            self._root_fd = None

    def root_fd(self) -> int:
        if self.root_error is not None:
            raise self.root_error
        if self._root_fd is None:
            try:
                self._root_fd = os.open(self.root, DIR_FLAGS)
            except OSError as exc:
                linked = exc.errno in (errno.ENOTDIR, errno.ELOOP) and os.path.islink(self.root)
                self.root_error = LinkedFolder() if linked else exc
                raise self.root_error from None
        return self._root_fd

    def folder(self, parts: Sequence[str]) -> int:
        """The descriptor of the folder ``root/parts…``, each component opened ``O_NOFOLLOW`` relative to the last.

        Raises LinkedFolder for a symlink on the way, FileNotFoundError/NotADirectoryError for a missing one,
        OSError otherwise. The descriptor belongs to this object (closed by :meth:`close`).
        """
        parent = self.root_fd()
        opened: list[int] = []
        try:
            for part in parts:
                try:
                    parent = os.open(part, DIR_FLAGS, dir_fd=parent)
                except OSError as exc:
                    if exc.errno in (errno.ENOTDIR, errno.ELOOP) and _is_link(part, parent):
                        raise LinkedFolder() from None
                    raise
                opened.append(parent)
            if not opened:
                return parent
            st = os.fstat(parent)
            key = (st.st_dev, st.st_ino)
            if key not in self._held:
                self._held[key] = opened.pop()
            return self._held[key]
        finally:
            for fd in opened:
                os.close(fd)


def tighten(dir_fd: int, name: str, ino: int) -> None:
    """chmod 0600 through a descriptor on the file itself, if it is still the inode moved and has no other link
    (a processed copy, a quarantined file: whatever mode its writer gave it, it is private once the worker holds it)."""
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return
    try:
        st = os.fstat(fd)
        if st.st_ino == ino and st.st_nlink == 1 and stat.S_ISREG(st.st_mode):
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
