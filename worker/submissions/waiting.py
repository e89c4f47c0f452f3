"""Waiting for a submission's final state: polling with backoff (sync) and one shared poll for every async waiter.

The database is the ledger, so a waiter only has to look at it. A thread calling the sync API polls its one
submission, 10 ms at first, doubling up to :data:`MAX_INTERVAL`. An async API has any number of waiters and no
thread for any of them: they register a future, and one task asks the database which of all the awaited
submissions are final (one query per 500 ids) every :data:`SHARED_INTERVAL`, then wakes their waiters. A
waiter thus wakes at most one interval plus one query after its final state committed (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

FIRST_INTERVAL = 0.01
MAX_INTERVAL = 0.2
FOLLOW_MAX_INTERVAL = 1.0  # a live view of every state (follow_document): a look a second at most while idle
SHARED_INTERVAL = 0.05


class _Status(Protocol):
    @property
    def final(self) -> bool: ...


S = TypeVar("S", bound=_Status)
V = TypeVar("V")


def wait_sync(status: Callable[[], S], timeout: float) -> S:
    """Poll ``status()`` until it is final or ``timeout`` seconds have passed; returns the last status."""
    deadline = time.monotonic() + max(0.0, timeout)
    interval = FIRST_INTERVAL
    while True:
        current = status()
        left = deadline - time.monotonic()
        if current.final or left <= 0:
            return current
        time.sleep(min(interval, left))
        interval = min(interval * 2, MAX_INTERVAL)


class AsyncWaiters(Generic[V]):
    """Futures per awaited submission id, resolved by one polling task (started with the first waiter)."""

    def __init__(self, final: Callable[[list[str]], Awaitable[dict[str, V]]], interval: float = SHARED_INTERVAL):
        self._final = final
        self._interval = interval
        self._futures: dict[str, list[asyncio.Future[V]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def wait(self, submission_id: str, timeout: float) -> V | None:
        """The submission's final view once it is final, None after ``timeout`` seconds."""
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._futures.setdefault(submission_id, []).append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return None
        finally:
            waiting = self._futures.get(submission_id, [])
            with contextlib.suppress(ValueError):
                waiting.remove(future)
            if not waiting:
                self._futures.pop(submission_id, None)

    async def _poll(self) -> None:
        while self._futures:
            await asyncio.sleep(self._interval)
            ids = list(self._futures)
            if not ids:
                break
            try:
                done = await self._final(ids)
            except Exception:  # noqa: BLE001 — database briefly unavailable: the waiters keep waiting
                continue
            for sid, value in done.items():
                for future in self._futures.get(sid, []):
                    if not future.done():
                        future.set_result(value)
