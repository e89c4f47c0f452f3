"""Files retention and erasure act on: processed copies and user folders (quarantine entries: ``worker.quarantine``).

Layout (shared contract): ``processed/<user_id or _nouser>/<sha256>.<ext>``.
A file's age is when it arrived where it is: the later of its mtime and
ctime (a copy or move may keep an old mtime; ctime changes on rename). Every
deletion tolerates files already gone: a re-run after a crash finds less to do.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.retention.paths import within

log = logging.getLogger("mediflux.retention.files")


@dataclass
class FileCount:
    files: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.files += 1
        self.bytes += size

    def add_all(self, sizes: Iterable[int]) -> None:
        for size in sizes:
            self.add(size)


def arrived_at(path: Path) -> float | None:
    """Epoch seconds when the file arrived here (max of mtime, ctime); None if it is gone."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return max(st.st_mtime, st.st_ctime)


def remove_file(path: Path, count: FileCount) -> bool:
    """Unlink ``path`` (a regular file, not followed if a symlink); False if already gone."""
    try:
        size = path.lstat().st_size
        path.unlink()
    except FileNotFoundError:
        return False
    count.add(size)
    return True


def remove_tree(path: Path, count: FileCount) -> None:
    """Delete a folder and everything under it (symlinks removed, never followed); gone is fine."""
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_dir():
        remove_file(path, count)
        return
    for root, dirs, files in os.walk(path, topdown=False, followlinks=False):
        for name in files:
            remove_file(Path(root) / name, count)
        for name in dirs:
            child = Path(root) / name
            if child.is_symlink():
                remove_file(child, count)
            else:
                _rmdir(child)
    _rmdir(path)


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except FileNotFoundError:
        pass


def user_folders(base: Path) -> Iterator[Path]:
    """Sub-folders of ``base`` (one per user id, plus ``_nouser``)."""
    if base.is_dir():
        for child in sorted(base.iterdir()):
            if child.is_dir() and not child.is_symlink():
                yield child


def processed_copy(home: Path, meta: Any) -> Path | None:
    """The kept copy a document row points at (``meta["processed_path"]``, relative to home), if inside processed/."""
    relative = meta.get("processed_path") if isinstance(meta, dict) else None
    if not isinstance(relative, str):
        return None
    return within(home / "processed", relative.removeprefix("processed/"))
