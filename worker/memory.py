"""Give the heap memory freed by bulk work back to the system, so long-running processes stay small.

glibc keeps freed memory in the arena of the thread that freed it. Each consumer thread that ingests or
analyses a batch allocates and frees some 10 MB, so every worker thread's arena settled at its largest
batch: the consumer grew by about 70 MB over 100,000 documents although Python's live objects did not
(bench/ingest_bench.py (d); ``malloc_trim(0)`` on that process gave all of it back). A daemon thread
calls ``malloc_trim(0)`` at most once a second, and only after bulk work was reported
(:func:`note_bulk_work`); a trim costs under 10 ms. Without glibc (musl, macOS) this is a no-op.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from typing import Callable

log = logging.getLogger("mediflux.memory")
TRIM_INTERVAL_SECONDS = 1.0


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


def note_bulk_work() -> None:
    """Report that this process just allocated and freed a lot (a batch ingested or analysed)."""
    _dirty.set()


def _loop(interval: float) -> None:
    while True:
        _dirty.wait()
        _dirty.clear()
        trim()
        threading.Event().wait(interval)  # at most one trim per interval, however busy


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
