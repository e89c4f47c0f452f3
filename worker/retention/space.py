"""Giving space back on SQLite without a full VACUUM: bounded incremental vacuum, WAL checkpoints.

``auto_vacuum=INCREMENTAL`` is set when the file is created (models.database),
so freed pages sit on the freelist until ``PRAGMA incremental_vacuum(N)`` moves
up to N of them off the end of the file. That pragma frees one page per step of
its statement, and Python's ``sqlite3`` steps it only once: the statement has no
result columns, so ``execute`` resets it after the first step and even
``fetchall()`` gets nothing more (checked with ``freelist_count`` in
tests/test_retention_sweep.py). ``executescript`` steps every statement to
completion, so it is used here. A full VACUUM rewrites the whole file under an
exclusive lock: never in the periodic path.
"""

from __future__ import annotations

import logging
import time

import peewee

from models import is_postgres

log = logging.getLogger("mediflux.retention.space")
VACUUM_PAGES = 2048  # per sweep at most: 8 MiB with 4 KiB pages
VACUUM_STEP = 128  # pages per transaction at most; the first has 16, the next are sized to ~VACUUM_TARGET_MS
VACUUM_TARGET_MS = 50.0
VACUUM_SECONDS = 1.0  # per sweep
VACUUM_MAX_FREELIST = 65_536  # 256 MiB of free pages: beyond, each page holds the write lock too long; VACUUM by hand


def freelist_count(database: peewee.Database) -> int:
    """Pages on SQLite's freelist (0 on PostgreSQL)."""
    if is_postgres(database):
        return 0
    return int(database.execute_sql("PRAGMA freelist_count").fetchone()[0])


def incremental_vacuum(
    database: peewee.Database,
    pages: int = VACUUM_PAGES,
    step: int = 16,
    seconds: float = VACUUM_SECONDS,
    max_freelist: int = VACUUM_MAX_FREELIST,
) -> dict[str, int]:
    """Release up to ``pages`` free pages to the file system, within ``seconds``, in short transactions.

    Each step is its own write transaction (it relocates live pages from the end
    of the file and searches the freelist for each page it frees, so a page costs
    more as the freelist grows); steps are sized to take about VACUUM_TARGET_MS,
    with a pause as long as the step between two so other writers get the lock.
    Above ``max_freelist`` free pages (after a mass deletion) nothing is done: each
    page would then hold the write lock far too long (docs/benchmarks.md, expiry
    sweep); the pages are reused by new rows, and ``VACUUM`` in a
    maintenance window shrinks the file. Returns freelist before/after.
    """
    if is_postgres(database):
        return {"freelist_before": 0, "freelist_after": 0, "vacuumed_pages": 0, "vacuum_skipped": 0}
    before = left = freelist_count(database)
    if before > max_freelist:
        log.warning(
            "freelist of %s pages: incremental vacuum skipped (too slow at this size); "
            "run VACUUM in a maintenance window to shrink the file",
            before,
        )
        return {"freelist_before": before, "freelist_after": before, "vacuumed_pages": 0, "vacuum_skipped": 1}
    remaining, stop = pages, time.monotonic() + seconds
    while left and remaining > 0 and time.monotonic() < stop:  # never incremental_vacuum(0): the whole freelist
        n = min(step, remaining)
        t0 = time.perf_counter()
        # executescript steps the pragma to the end (execute would free a single page).
        database.connection().executescript(f"PRAGMA incremental_vacuum({int(n)});")
        elapsed_ms = (time.perf_counter() - t0) * 1000
        remaining -= n
        left = freelist_count(database)
        step = max(1, min(VACUUM_STEP, int(n * VACUUM_TARGET_MS / max(elapsed_ms, 0.1))))
        if left and remaining > 0:
            time.sleep(min(0.05, elapsed_ms / 1000))
    after = left
    return {"freelist_before": before, "freelist_after": after, "vacuumed_pages": before - after, "vacuum_skipped": 0}


def checkpoint_truncate(database: peewee.Database, wait_ms: int = 1000) -> bool:
    """Copy the WAL into the database and truncate it to zero bytes; False if a reader prevents it.

    TRUNCATE waits (busy handler) for readers of old snapshots; the wait is
    shortened to ``wait_ms`` so an erasure does not stall 15 s behind a long reader:
    it reports "not yet" and is retried by the erasure backlog job.
    """
    if is_postgres(database):
        return True
    assert isinstance(database, peewee.SqliteDatabase), "SQLite is the only other backend"
    database.execute_sql(f"PRAGMA busy_timeout = {int(wait_ms)}")
    try:
        busy, _log, _done = database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        database.execute_sql(f"PRAGMA busy_timeout = {int(database.timeout * 1000)}")
    return busy == 0
