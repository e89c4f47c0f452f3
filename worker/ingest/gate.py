"""The readiness gate: a file is dispatched once no one can still be writing it, exactly once per version.

Events only say "something happened to this path". A path becomes *ready*:

- at once after a close-after-write (inotify ``IN_CLOSE_WRITE``, watchdog's ``closed``) or a move into the
  inbox of its current version, unless the kernel says another writer still holds it open (:mod:`writers`);
- otherwise (``created``/``modified`` events alone only *arm* it; a scan found it young or being written;
  a retry) once no event came for ``quiet`` seconds and the kernel says no process holds it open for
  writing; while one does, it is asked again after a growing pause (the writer's close event usually comes
  first). Where the kernel cannot tell (NFS, SMB, another user's file: :data:`writers.Writers.UNKNOWN`),
  the file must keep the same ``lstat`` signature (size, mtime) for ``fallback_quiet`` seconds.

A file that stays open simply stays pending: the gate never gives up on it. Once dispatched, a version
(device, inode, size) is *in flight* until its work finishes or the in-flight entry expires (a lost queue
task is dispatched again), so metadata-only events (chmod, touch) and repeated events never dispatch it twice.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from worker.ingest.writers import Writers, state

MAX_BACKOFF = 60.0
MAX_WRITER_PAUSE = 2.0  # longest pause between two looks at a file a writer holds open
CLOSE_RACE = 0.002  # a close event can precede the end of its writer's count by microseconds


@dataclass
class _Pending:
    last_event: float
    closed: bool = False
    signature: tuple[int, int, int, int] | None = None
    since: float = 0.0  # when ``signature`` was first seen (the fallback's quiet period)
    retry_at: float = 0.0
    attempts: int = 0
    look_at: float = 0.0  # next look while a writer holds the file open (or the fallback waits)
    looks: int = 0


class StabilityGate:
    """Thread-safe: watchdog's thread calls :meth:`touch`, the watcher loop calls :meth:`ready`."""

    def __init__(
        self,
        quiet: float,
        inflight_ttl: float,
        clock: Callable[[], float] = time.monotonic,
        fallback_quiet: float = 5.0,
        writers: Callable[[str], Writers] = state,
    ) -> None:
        self.quiet = quiet
        self.inflight_ttl = inflight_ttl
        self.fallback_quiet = fallback_quiet
        self._writers = writers
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._inflight: dict[str, tuple[tuple[int, int, int], float]] = {}
        self.wake = threading.Event()

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def touch(self, path: str, closed: bool = False) -> None:
        """An event for ``path``: ``closed`` for a close-after-write or a move-in (this version is complete),
        else created, modified, or found young by a scan (it arms the path)."""
        now = self._clock()
        with self._lock:
            entry = self._pending.get(path)
            if entry is None:
                self._pending[path] = _Pending(now, closed)
            else:
                entry.last_event = now
                entry.closed = closed
                entry.signature = None
                entry.look_at, entry.looks = 0.0, 0
                if closed:
                    entry.retry_at = 0.0  # a new complete version: no reason to wait for an old backoff
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
            return max(0.0, min(self._due(e) - now for e in self._pending.values()))

    def _due(self, entry: _Pending) -> float:
        """When ``entry`` is next worth a look."""
        return max(entry.retry_at, entry.look_at, 0.0 if entry.closed else entry.last_event + self.quiet)

    def ready(self) -> list[tuple[str, os.stat_result]]:
        """Paths that passed the gate now (removed from pending, marked in flight), with their lstat."""
        now = self._clock()
        out = []
        with self._lock:
            for path, entry in list(self._pending.items()):
                if self._due(entry) > now:
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
                if stat.S_ISREG(st.st_mode) and not self._complete(path, entry, signature, now):
                    continue
                del self._pending[path]
                flight = self._inflight.get(path)
                if flight and flight[0] == signature[:3] and flight[1] > now:
                    continue  # this version is already being handled
                self._inflight[path] = (signature[:3], now + self.inflight_ttl)
                out.append((path, st))
        return out

    def _complete(self, path: str, entry: _Pending, signature: tuple[int, int, int, int], now: float) -> bool:
        """No one can still be writing this regular file (see the module doc); else schedules the next look."""
        found = self._writers(path)
        if found is Writers.NONE:
            return True
        if found is Writers.OPEN:
            if entry.closed:
                # The kernel queues the close event before it drops the writer's count: look again at
                # once; if a writer is still there it is another one, and its own close event will come.
                entry.closed = False
                entry.look_at = now + CLOSE_RACE
                return False
            entry.look_at = now + min(max(self.quiet, 0.05) * 2**entry.looks, MAX_WRITER_PAUSE)
            entry.looks += 1
            return False
        if entry.closed:
            return True  # cannot be asked: the close-after-write (or the move-in) is the word we have
        if entry.signature != signature:
            entry.signature, entry.since = signature, now
        if now - entry.since >= self.fallback_quiet:
            return True
        entry.look_at = entry.since + self.fallback_quiet  # the second look: unchanged since then?
        return False

    def expire(self) -> None:
        """Drop stale in-flight entries (their work was lost; the next scan dispatches them again)."""
        now = self._clock()
        with self._lock:
            for path in [p for p, (_, until) in self._inflight.items() if until <= now]:
                del self._inflight[path]
