"""Give the memory used by bulk work back to the system, so long-running processes stay small.

Two things kept a consumer growing with the number of documents it had handled, although Python's live
objects did not grow (figures: docs/benchmarks.md, ingestion (d)):

- glibc keeps freed memory in the arena of the thread that freed it, so every worker thread's arena settled
  at its largest batch. A daemon thread calls ``malloc_trim(0)`` at most once a second after bulk work was
  reported, and every 30 s anyway (a trim is cheap). Without glibc (musl, macOS) this part is a no-op.
- SQLite's page cache is per connection, so per thread (up to ``cache_size``): a thread whose job scanned a
  large table kept a full cache after the job. After bulk work the thread's cache is released
  (``PRAGMA shrink_memory``); the next batch reads its pages back from the OS page cache.

Call :func:`after_bulk_work` at the end of each batch or job, in the thread that did it; long-running
processes also call :func:`cap_sqlite_memory` once (the consumer and the watcher do).
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable

import peewee

from models import db

log = logging.getLogger("mediflux.memory")
TRIM_INTERVAL_SECONDS = 1.0
# Threads that never report bulk work (huey's scheduler and stats writer, periodic-job plumbing) free memory
# too: trim anyway this often (a trim with nothing to give back is nearly free).
IDLE_TRIM_SECONDS = 30.0
SQLITE_SOFT_HEAP_MB = 16


def _find_malloc_trim() -> Callable[[int], int] | None:
    try:
        function = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


_malloc_trim = _find_malloc_trim()
_dirty = threading.Event()
_started = threading.Lock()
_thread: threading.Thread | None = None


def trim() -> bool:
    """Return free heap memory to the system now; True if anything was released."""
    return bool(_malloc_trim(0)) if _malloc_trim is not None else False


def cap_sqlite_memory(megabytes: int = SQLITE_SOFT_HEAP_MB) -> None:
    """Cap the memory SQLite keeps in this process (all connections, all threads): past the cap SQLite
    recycles cache pages instead of allocating more. For long-running workers: some of their connections
    (huey's stats writer, the scheduler) never reach :func:`after_bulk_work`, and one of them filling its
    page cache was a lasting step in the consumer's memory."""
    database = db.obj
    if isinstance(database, peewee.SqliteDatabase):
        database.execute_sql(f"PRAGMA soft_heap_limit = {int(megabytes) * 2**20}")


def after_bulk_work() -> None:
    """This thread just handled a batch or a job: release its SQLite page cache, and let the trimmer
    hand the freed memory back to the system."""
    database = db.obj
    if isinstance(database, peewee.SqliteDatabase) and not database.is_closed():
        try:
            database.execute_sql("PRAGMA shrink_memory")
        except peewee.DatabaseError as exc:  # never fail the work over housekeeping
            log.debug("shrink_memory failed: %s", type(exc).__name__)
    _dirty.set()


def _loop(interval: float) -> None:
    while True:
        _dirty.wait(IDLE_TRIM_SECONDS)
        _dirty.clear()
        trim()
        time.sleep(interval)  # at most one trim per interval, however busy


def start_trimmer(interval: float = TRIM_INTERVAL_SECONDS) -> bool:
    """Start the trimming thread of this process (idempotent); False where there is no ``malloc_trim``."""
    global _thread
    if _malloc_trim is None:
        return False
    with _started:
        if _thread is None:
            _thread = threading.Thread(target=_loop, args=(interval,), name="mediflux-heap-trim", daemon=True)
            _thread.start()
            log.debug("heap trimming every %.1f s after bulk work", interval)
    return True
