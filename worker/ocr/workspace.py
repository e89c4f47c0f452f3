"""The OCR stage's private folders under ``MEDIFLUX_HOME``: ``ocr/tmp/`` (0700) and ``ocr/slots/``.

Each document being OCRed has a job folder ``ocr/tmp/<key>/`` (the input copy, the rendered pages, the
child's settings), guarded by an ``flock`` on ``ocr/tmp/<key>.lock`` held by the process running it. The
key is a hash of (owner, SHA-256), never a name. The lock makes the job exclusive (the same photo dropped
twice, or re-triggered by a rescan while it runs, is OCRed once) and tells a crash from a live job: the
kernel frees it when its holder dies, so :func:`clean_stale` (run when a process starts OCR) removes what
a killed process left, and never a job a living one is running.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from models.private import private_dir
from worker.config import Settings

LOCK_SUFFIX = ".lock"


def root(settings: Settings) -> Path:
    return settings.home / "ocr"


def tmp_root(settings: Settings) -> Path:
    """``<home>/ocr/tmp``, created 0700 (and tightened if it exists)."""
    path = root(settings) / "tmp"
    private_dir(path)
    os.chmod(root(settings), 0o700)
    os.chmod(path, 0o700)
    return path


def slots_dir(settings: Settings) -> Path:
    return root(settings) / "slots"


def children_dir(settings: Settings) -> Path:
    """The OCR children's machine-wide places (:func:`worker.ocr.run.run_child`)."""
    return root(settings) / "children"


def job_key(owner: str | None, sha256: str) -> str:
    """The job's name: a hash of the idempotency key (owner, SHA-256); no user id appears on disk."""
    return hashlib.sha256(f"{owner or ''}\0{sha256}".encode()).hexdigest()[:40]


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive flock on ``path``, or None if another process holds it.

    After locking, the name must still be the inode locked (a cleaner may have unlinked it meanwhile).
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _release(lock: Path, folder: Path, fd: int) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    lock.unlink(missing_ok=True)  # while still locked: a waiter re-checks the inode
    os.close(fd)


@contextmanager
def job(settings: Settings, key: str) -> Iterator[Path | None]:
    """The job folder of ``key`` (fresh, 0700) while this process holds it, or None while another does.
    Removed with everything in it on the way out."""
    base = tmp_root(settings)
    lock, folder = base / (key + LOCK_SUFFIX), base / key
    fd = _try_lock(lock)
    if fd is None:
        yield None
        return
    try:
        shutil.rmtree(folder, ignore_errors=True)  # a crashed run's leftovers
        folder.mkdir(mode=0o700)
        yield folder
    finally:
        _release(lock, folder, fd)


def held_flocks() -> set[tuple[int, int]]:
    """(device, inode) of every file some process holds an ``flock`` on, from ``/proc/locks``: read-only,
    so asking never takes a lock a job or a page is about to take."""
    held: set[tuple[int, int]] = set()
    try:
        lines = Path("/proc/locks").read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return held
    for line in lines:
        fields = line.split()
        if "FLOCK" not in fields or "->" in fields:
            continue
        try:
            major, minor, inode = fields[fields.index("FLOCK") + 4].split(":")
            held.add((os.makedev(int(major, 16), int(minor, 16)), int(inode)))
        except (IndexError, ValueError):
            continue
    return held


def state(settings: Settings) -> dict[str, int]:
    """OCR jobs running, job folders a crash left, slots busy of ``MEDIFLUX_OCR_PROCESSES`` (for operators)."""
    held = held_flocks()

    def is_held(path: Path) -> bool:
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) in held

    base, slots = root(settings) / "tmp", slots_dir(settings)
    names = os.listdir(base) if base.is_dir() else []
    keys = {n.removesuffix(LOCK_SUFFIX) for n in names}
    running = sum(is_held(base / (k + LOCK_SUFFIX)) for k in keys)
    busy = sum(is_held(slots / f"slot-{i}") for i in range(settings.ocr_processes))
    return {"running": running, "stale": len(keys) - running, "slots": settings.ocr_processes, "slots_busy": busy}


def clean_stale(settings: Settings) -> int:
    """Remove the job folders of processes that died mid-OCR; returns how many. Live jobs are left."""
    base = tmp_root(settings)
    removed = 0
    keys = {name.removesuffix(LOCK_SUFFIX) for name in os.listdir(base)}
    for key in sorted(keys):
        fd = _try_lock(base / (key + LOCK_SUFFIX))
        if fd is None:
            continue
        if (base / key).exists():
            removed += 1
        _release(base / (key + LOCK_SUFFIX), base / key, fd)
    return removed
