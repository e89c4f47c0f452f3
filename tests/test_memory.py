"""worker.memory: after bulk work, a thread's SQLite page cache is released and freed heap memory goes back
to the system (glibc's per-thread arenas)."""

import ctypes
import os

import threading
import time
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.ingest_fixtures import sqlite_inbox_settings
from worker import memory

pytestmark = pytest.mark.skipif(memory._malloc_trim is None, reason="needs glibc's malloc_trim")


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class WorkerThread:
    """A long-lived thread (like a consumer worker) that processes a big batch and keeps a few results:
    survivors allocated by glibc (over 512 bytes, so not by Python's small-object allocator) scattered
    through the thread's arena keep glibc from shrinking it by itself."""

    def __init__(self) -> None:
        self.survivors: list[bytes] = []
        self._go, self._done, self._exit = threading.Event(), threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._go.wait()
        batch = [b"x" * (8_000 + i % 5_000) for i in range(12_000)]  # ~120 MB, every page written
        self.survivors = [b"s" * 1_000 + batch[i][:1] for i in range(0, len(batch), 50)]
        del batch
        self._done.set()
        self._exit.wait()

    def process_batch(self) -> None:
        self._go.set()
        self._done.wait(30)

    def stop(self) -> None:
        self._exit.set()
        self._thread.join(5)


@pytest.fixture
def worker_thread():
    t = WorkerThread()
    yield t
    t.stop()


def test_a_worker_threads_freed_batch_stays_resident_until_trimmed(worker_thread):
    memory.trim()  # free memory other tests left in the arenas would hide the batch
    baseline = _rss_mb()
    worker_thread.process_batch()
    time.sleep(0.2)
    assert _rss_mb() - baseline > 35, "glibc gave the memory back by itself: nothing to test here"
    assert memory.trim()
    assert _rss_mb() - baseline < 12


def test_the_trimmer_runs_after_bulk_work_is_reported(worker_thread):
    memory.trim()
    assert memory.start_trimmer() and memory.start_trimmer()  # idempotent
    baseline = _rss_mb()
    worker_thread.process_batch()
    assert _rss_mb() - baseline > 35  # resident until someone trims (see the test above)
    memory.after_bulk_work()
    wait_for(lambda: _rss_mb() - baseline < 12, timeout=10, message="the trimmer to release the arena")


@pytest.fixture
def sqlite_memory_used():
    """SQLite's own memory counter, if the sqlite3 module uses the shared libsqlite3 (not a static copy)."""
    import sqlite3

    try:
        lib = ctypes.CDLL("libsqlite3.so.0")
    except OSError:
        pytest.skip("needs the shared libsqlite3 that the sqlite3 module uses")
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    before = lib.sqlite3_memory_used()
    probe = sqlite3.connect(":memory:")
    probe.execute("CREATE TABLE t (x)")
    used = lib.sqlite3_memory_used() - before
    probe.close()
    if used <= 0:
        pytest.skip("the sqlite3 module does not use the shared libsqlite3 (static build)")
    return lambda: lib.sqlite3_memory_used() / 2**20


def test_a_threads_sqlite_page_cache_is_released_after_bulk_work(tmp_path, sqlite_memory_used):
    from models import db

    gen = sqlite_inbox_settings(tmp_path)
    next(gen)
    try:
        _fill_and_release(db, sqlite_memory_used)
    finally:
        gen.close()


def _fill_and_release(db, sqlite_memory_used) -> None:
    from models import Document
    from models.bulk import insert_ignore_returning
    from models.clock import utcnow

    fields = (
        Document.original_filename,
        Document.sha256,
        Document.format,
        Document.text,
        Document.pages,
        Document.meta,
        Document.status,
        Document.created_at,
    )
    now = utcnow()
    with db.atomic():
        insert_ignore_returning(
            Document,
            fields,
            [(f"f{i}", f"{i:064x}", "text", "é" * 6000, [], {}, "ingested", now) for i in range(5000)],
            None,  # either unique index (per owner, or among documents without one)
            (Document.id,),
        )
    db.close()  # a fresh connection: an empty page cache
    db.connect()
    before = sqlite_memory_used()
    assert db.execute_sql("SELECT sum(length(text)) FROM documents").fetchone()[0] == 30_000_000
    filled = sqlite_memory_used()
    assert filled - before > 10, "the scan did not fill the page cache (16 MB)"
    memory.after_bulk_work()
    assert sqlite_memory_used() - before < 2


def test_the_cap_bounds_sqlite_memory_across_threads(tmp_path, sqlite_memory_used):
    """Connections in threads that never release their cache (huey's stats writer) stay under the cap."""
    from models import db

    gen = sqlite_inbox_settings(tmp_path)
    next(gen)
    try:
        _fill_and_release(db, sqlite_memory_used)  # 30 MB of rows
        memory.cap_sqlite_memory(8)

        def scan() -> None:
            assert db.execute_sql("SELECT sum(length(text)) FROM documents").fetchone()[0] == 30_000_000

        threads = [threading.Thread(target=scan) for _ in range(3)]  # three connections, never shrunk
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sqlite_memory_used() < 8 + 2, "three 16 MB page caches were kept despite the cap"
    finally:
        db.execute_sql("PRAGMA soft_heap_limit = 0")  # process-wide: no cap for the other tests
        gen.close()
