"""Whether this process is ingesting, so that lower-priority bulk work (analysis) can step aside.

Queue priorities decide which task a consumer thread *starts*; they cannot hold back an analysis task that a
thread took while the queue briefly had no ingestion task (a watcher still walking a large backlog enqueues
it batch by batch). That analysis then shared the GIL with every ingestion batch after it (docs/benchmarks.md,
ingestion). So an analysis task first waits until no batch has been running or waiting here for a short quiet
period, within a bound: a backlog is committed first and analysed after, as the priorities intend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_changed = threading.Condition()
_active = 0  # batches running or waiting for their turn in this process
_last_end = 0.0  # time.monotonic() when the last one ended
_looks = 0  # times a waiter looked at the state: shows that it looked and kept waiting (tests, diagnostics)


@contextmanager
def ingesting() -> Iterator[None]:
    """Mark an ingestion batch in progress (including its wait for the one-batch-at-a-time lock)."""
    global _active, _last_end
    with _changed:
        _active += 1
    try:
        yield
    finally:
        with _changed:
            _active -= 1
            _last_end = time.monotonic()
            _changed.notify_all()


def wait_until_idle(quiet: float = 0.5, timeout: float = 30.0) -> bool:
    """Block while ingestion ran here within the last ``quiet`` seconds, at most ``timeout`` seconds
    (never starve the caller); True if ingestion was idle when it returned."""
    global _looks
    deadline = time.monotonic() + timeout
    with _changed:
        while True:
            _looks += 1
            now = time.monotonic()
            idle_for = now - _last_end
            if _active == 0 and idle_for >= quiet:
                return True
            if now >= deadline:
                return False
            _changed.wait(min(deadline - now, quiet - idle_for if _active == 0 else quiet))


def looks() -> int:
    """How many times :func:`wait_until_idle` has looked at whether ingestion is idle, in this process."""
    with _changed:
        return _looks
