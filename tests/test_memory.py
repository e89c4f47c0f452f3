"""worker.memory: freed heap memory goes back to the system after bulk work (glibc's per-thread arenas)."""

import threading
import time
from pathlib import Path

import pytest

from tests.conftest import wait_for
from worker import memory

pytestmark = pytest.mark.skipif(memory._malloc_trim is None, reason="needs glibc's malloc_trim")


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


class WorkerThread:
    """A long-lived thread (like a consumer worker) that processes a big batch and keeps a few results
    (small survivors scattered through its arena pin the heap: glibc cannot shrink it by itself)."""

    def __init__(self) -> None:
        self.survivors: list[bytes] = []
        self._go, self._done, self._exit = threading.Event(), threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._go.wait()
        batch = [bytes(8_000 + i % 5_000) for i in range(12_000)]  # ~120 MB below the mmap threshold
        self.survivors = [bytes(batch[i][:64]) for i in range(0, len(batch), 50)]
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
    baseline = _rss_mb()
    worker_thread.process_batch()
    time.sleep(0.2)
    assert _rss_mb() - baseline > 35, "glibc gave the memory back by itself: nothing to test here"
    assert memory.trim()
    assert _rss_mb() - baseline < 12


def test_the_trimmer_runs_after_bulk_work_is_reported(worker_thread):
    assert memory.start_trimmer(interval=0.05) and memory.start_trimmer()  # idempotent
    baseline = _rss_mb()
    worker_thread.process_batch()
    memory.note_bulk_work()
    wait_for(lambda: _rss_mb() - baseline < 12, timeout=10, message="the trimmer to release the arena")
