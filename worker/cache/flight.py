"""Single-flight: one upstream call per key, across threads (here) and processes (a DB lease).

In a process, the first thread to miss a key runs the call and the others wait for its
outcome (value or exception). Across processes, that thread then takes the lease
``cache:<key>`` (worker/leases.py); other processes poll the row until it is filled, the
fetch is reported failed, or the lease expires (its holder died) and they take over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")
POLL_SECONDS = 0.05


def lease_name(key: str) -> str:
    return f"cache:{key}"


class Flights:
    """Coalesces concurrent calls with the same key in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, Future] = {}

    def run(self, key: str, fn: Callable[[], T]) -> T:
        with self._lock:
            future = self._calls.get(key)
            leader = future is None
            if leader:
                future = self._calls[key] = Future()
        assert future is not None
        if not leader:
            return future.result()
        try:
            result = fn()
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(result)
            return result
        finally:
            with self._lock:
                self._calls.pop(key, None)
