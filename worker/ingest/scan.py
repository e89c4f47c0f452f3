"""Which inbox entries are candidates, and a full walk of the inbox (startup scan, rescans, `ingest DIR`).

Temporary, partial and OS files are ignored by name (defaults below plus ``MEDIFLUX_WATCH_IGNORE``), as
are hidden folders and the folder patterns ending in ``/``. The walk never follows symlinks (a link is
reported as a candidate and quarantined by the store without being opened).
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from worker.filenames import ref

log = logging.getLogger("mediflux.ingest")
DEFAULT_IGNORE = (
    "*.part",
    "*.tmp",
    "*.filepart",
    "~$*",
    "._*",
    ".DS_Store",
    "Thumbs.db",
    "desktop.ini",
    "@eaDir/",
    ".stfolder/",
    ".*/",
)
_LOGGED_MAX = 10_000


class IgnoreRules:
    """Name patterns (case-insensitive) for files; patterns ending in ``/`` for folders."""

    def __init__(self, extra: tuple[str, ...] = ()) -> None:
        patterns = DEFAULT_IGNORE + tuple(extra)
        self.files = tuple(p.lower() for p in patterns if not p.endswith("/"))
        self.folders = tuple(p[:-1].lower() for p in patterns if p.endswith("/"))
        self._logged: set[str] = set()

    def ignored_file(self, name: str) -> bool:
        lower = name.lower()
        return any(fnmatch.fnmatchcase(lower, p) for p in self.files)

    def ignored_folder(self, name: str) -> bool:
        lower = name.lower()
        return any(fnmatch.fnmatchcase(lower, p) for p in self.folders)

    def ignored(self, rel: str) -> bool:
        """True when ``rel`` (inbox-relative) is an ignored file or lies under an ignored folder."""
        parts = rel.split(os.sep)
        return self.ignored_file(parts[-1]) or any(self.ignored_folder(p) for p in parts[:-1])

    def log_once(self, path: str, why: str = "ignored name") -> None:
        """Log a skip the first time only (a busy inbox would otherwise repeat it at every rescan)."""
        if path in self._logged:
            return
        if len(self._logged) >= _LOGGED_MAX:
            self._logged.clear()
        self._logged.add(path)
        log.info("skipping %s: %s", ref(path), why)


def walk(root: Path, rules: IgnoreRules) -> Iterator[os.DirEntry]:
    """Every non-ignored non-directory entry under ``root``, depth first, links not followed.

    An unreadable folder is logged and skipped; an unreadable ``root`` raises OSError (the caller reports it).
    """
    stack = [str(root)]
    first = True
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError as exc:
            if first:
                raise
            log.warning("cannot list %s: %s", ref(current), type(exc).__name__)
            continue
        first = False
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if rules.ignored_folder(entry.name):
                    rules.log_once(entry.path, "ignored folder")
                else:
                    stack.append(entry.path)
            elif rules.ignored_file(entry.name):
                rules.log_once(entry.path)
            else:
                yield entry
