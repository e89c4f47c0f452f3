"""The doctor's view of the watcher's inotify limits: enough watches for every inbox folder, enough instances.

Returns plain (status, detail, fix) so that ``worker.doctor`` wraps it in its ``Check`` without this package
importing the doctor (as :mod:`worker.bdpm.health` does). Only reads /proc and walks the inbox.
"""

from __future__ import annotations

import os
from pathlib import Path

INOTIFY = Path("/proc/sys/fs/inotify")
MIN_INSTANCES = 16
WATCH_MARGIN = 1024


def _count_dirs(root: Path, cap: int = 200_000) -> int:
    count = 0
    for _dirpath, _dirnames, _files in os.walk(root):
        count += 1
        if count >= cap:
            break
    return count


def inotify_check(inbox: Path, polling: bool, proc: Path = INOTIFY) -> tuple[str, str, str | None]:
    """``ok``, ``warn`` (limits unreadable) or ``fail`` (too few watches or instances), with a detail and a fix."""
    if polling:
        return "ok", "polling mode (MEDIFLUX_WATCH_POLLING=1): inotify not used", None
    try:
        watches = int((proc / "max_user_watches").read_text())
        instances = int((proc / "max_user_instances").read_text())
    except (OSError, ValueError):
        return (
            "warn",
            "inotify limits unreadable (not Linux?)",
            "set MEDIFLUX_WATCH_POLLING=1 if the watcher misses files",
        )
    folders = _count_dirs(inbox) if inbox.is_dir() else 1
    need = folders + WATCH_MARGIN
    problems = []
    if watches < need:
        problems.append(f"max_user_watches {watches} < {need} ({folders} inbox folders + margin)")
    if instances < MIN_INSTANCES:
        problems.append(f"max_user_instances {instances} < {MIN_INSTANCES}")
    if problems:
        return (
            "fail",
            "; ".join(problems),
            f"sysctl -w fs.inotify.max_user_watches={max(need * 2, 524288)} "
            f"fs.inotify.max_user_instances={max(instances, 512)}, or set MEDIFLUX_WATCH_POLLING=1",
        )
    return "ok", f"max_user_watches {watches} for {folders} inbox folders, max_user_instances {instances}", None
