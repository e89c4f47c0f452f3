"""The stability gate: a file is dispatched once it has been quiet and unchanged, exactly once per version.

Events only say "something happened to this path". A path becomes *ready* when no event arrived for the
quiet period and two looks (``lstat``) a quiet period apart agree on size and mtime — or, after a
close-after-write event, one look. A file that keeps changing simply stays pending: the gate never gives
up on it. Once dispatched, a version (device, inode, size) is *in flight* until its work finishes or the
in-flight entry expires (a lost queue task is dispatched again), so metadata-only events (chmod, touch)
and repeated events never dispatch it twice.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from dataclasses import dataclass

MAX_BACKOFF = 60.0


@dataclass
class _Pending:
    last_event: float
    closed: bool = False
    signature: tuple[int, int, int, int] | None = None
    retry_at: float = 0.0
    attempts: int = 0


class StabilityGate:
    """Thread-safe: watchdog's thread calls :meth:`touch`, the watcher loop calls :meth:`ready`."""

    def __init__(self, quiet: float, inflight_ttl: float, clock=time.monotonic) -> None:
        self.quiet = quiet
        self.inflight_ttl = inflight_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._inflight: dict[str, tuple[tuple[int, int, int], float]] = {}
        self.wake = threading.Event()

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def touch(self, path: str, closed: bool = False) -> None:
        """An event for ``path`` (created, modified, closed, moved in)."""
        now = self._clock()
        with self._lock:
            entry = self._pending.get(path)
            if entry is None:
                self._pending[path] = _Pending(now, closed)
            else:
                entry.last_event = now
                entry.closed = closed
                entry.signature = None
        self.wake.set()

    def forget(self, path: str) -> None:
        """The path was deleted or moved away."""
        with self._lock:
            self._pending.pop(path, None)
            self._inflight.pop(path, None)

    def is_known(self, path: str, st: os.stat_result) -> bool:
        """Pending, or this version already in flight (scans skip those)."""
        now = self._clock()
        with self._lock:
            if path in self._pending:
                return True
            flight = self._inflight.get(path)
            return bool(flight and flight[0] == (st.st_dev, st.st_ino, st.st_size) and flight[1] > now)

    def mark_inflight(self, path: str, st: os.stat_result) -> None:
        with self._lock:
            self._inflight[path] = ((st.st_dev, st.st_ino, st.st_size), self._clock() + self.inflight_ttl)

    def done(self, paths: list[str]) -> None:
        """Work for these paths finished (the file is gone, or will be retried through :meth:`retry`)."""
        with self._lock:
            for path in paths:
                self._inflight.pop(path, None)

    def retry(self, path: str) -> None:
        """A transient failure: look again after a backoff (1 s, 2 s, 4 s … capped at a minute), forever."""
        now = self._clock()
        with self._lock:
            self._inflight.pop(path, None)
            entry = self._pending.setdefault(path, _Pending(now))
            entry.attempts += 1
            entry.retry_at = now + min(2.0 ** (entry.attempts - 1), MAX_BACKOFF)
            entry.signature = None

    def next_deadline(self) -> float | None:
        """Seconds until the gate needs a look (None: nothing pending)."""
        with self._lock:
            if not self._pending:
                return None
            now = self._clock()
            return max(0.0, min(max(e.retry_at, e.last_event + self.quiet) - now for e in self._pending.values()))

    def ready(self) -> list[tuple[str, os.stat_result]]:
        """Paths that passed the gate now (removed from pending, marked in flight), with their lstat."""
        now = self._clock()
        out = []
        with self._lock:
            for path, entry in list(self._pending.items()):
                if entry.retry_at > now or now - entry.last_event < self.quiet:
                    continue
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    del self._pending[path]
                    continue
                except OSError:
                    entry.retry_at = now + 1.0
                    continue
                signature = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
                stable = (
                    not stat.S_ISREG(st.st_mode)
                    or entry.signature == signature
                    or (entry.closed and entry.signature is None and entry.attempts == 0)
                )
                if not stable:
                    entry.signature = signature
                    entry.last_event = now  # look again one quiet period later
                    continue
                del self._pending[path]
                flight = self._inflight.get(path)
                if flight and flight[0] == signature[:3] and flight[1] > now:
                    continue  # this version is already being handled
                self._inflight[path] = (signature[:3], now + self.inflight_ttl)
                out.append((path, st))
        return out

    def expire(self) -> None:
        """Drop stale in-flight entries (their work was lost; the next scan dispatches them again)."""
        now = self._clock()
        with self._lock:
            for path in [p for p, (_, until) in self._inflight.items() if until <= now]:
                del self._inflight[path]
