"""The inbox watcher (``mediflux watch``): watchdog events → readiness gate → ingestion.

- Live files (an event, then the gate: ready after a close-after-write or a move-in, see :mod:`gate`) are
  ingested as soon as they become ready: inline in this process
  by default (latency: no queue round trip), or as an ``ingest_files`` task (``MEDIFLUX_WATCH_INLINE=0``).
  Files that pass the gate in the same turn share one transaction (or task), up to ``MEDIFLUX_INGEST_BATCH``.
- Backlogs (startup scan, periodic full rescan) go to the consumer in batches (many files per task); a
  file found still open for writing (:mod:`writers`) goes to the gate instead and waits for its close.
- The observer is supervised: a dead dispatcher or emitter thread (a handler exception, the inbox
  deleted, an inotify failure) is replaced and followed by a full rescan; a missing inbox is created; an
  unreadable one is reported and retried with backoff.
- Only the holder of the lease ``watcher:<inbox>`` watches; the lease is renewed as a heartbeat, and a
  second watcher stands by until it expires.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import threading
import time
from collections.abc import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from models.private import private_dir
from worker import leases
from worker.config import Settings
from worker.filenames import ref
from worker.ingest import writers
from worker.ingest.batch import ingest_batch
from worker.ingest.gate import StabilityGate
from worker.ingest.report import IngestReport
from worker.ingest.scan import IgnoreRules, walk
from worker.triggers import Triggers

log = logging.getLogger("mediflux.watcher")
IGNORED_EVENTS = {"opened", "closed_no_write", "attrib"}  # metadata only: never a new version
RENEW_EVERY = 10.0
POLL_INTERVAL = 0.5


def lease_name(settings: Settings) -> str:
    return leases.watcher_lease(settings.inbox)


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: InboxWatcher) -> None:
        self.watcher = watcher

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self.watcher.on_event(event)
        except Exception as exc:  # noqa: BLE001 — an exception here would kill watchdog's thread
            log.error("event handler failed (%s); a full rescan follows", type(exc).__name__)
            self.watcher.request_rescan()


class InboxWatcher:
    """Watch ``settings.inbox`` until :meth:`stop`. Backlogs (and live files when not inline) go to
    ``triggers.ingest``; what inline ingestion stores goes to ``triggers.analyze``."""

    def __init__(self, settings: Settings, triggers: Triggers, lease_ttl: _dt.timedelta | None = None) -> None:
        self.settings = settings
        self.triggers = triggers
        self.inline = settings.watch_inline
        self.rules = IgnoreRules(settings.watch_ignore)
        self.gate = StabilityGate(
            settings.watch_quiet_seconds,
            inflight_ttl=3 * settings.watch_rescan_seconds,
            fallback_quiet=settings.watch_poll_quiet_seconds,
        )
        self.lease_ttl = lease_ttl or _dt.timedelta(seconds=settings.watch_lease_seconds)
        self.holder = leases.new_holder_id()
        self.observer: BaseObserver | None = None
        self.report = IngestReport()
        self._stop = threading.Event()
        self._rescan_at = 0.0
        self._holding = False
        self._renew_at = 0.0
        self._outage = 0
        self._warned_standby = False
        self.on_ingested: Callable[[IngestReport], None] | None = None
        # Observable progress (tests, diagnostics): a pass over the inbox done, a lease refused as held.
        self.scans_done = 0
        self.standby_checks = 0

    # ---- events (watchdog's thread) ------------------------------------------------------------------
    def on_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind in IGNORED_EVENTS:
            return
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(getattr(event, "dest_path", "") or "")
        if event.is_directory:
            if kind in ("created", "moved"):
                self.request_rescan()  # files may have landed in it before it was watched
            return
        if kind == "deleted":
            self.gate.forget(src)
        elif kind == "moved":
            self.gate.forget(src)
            if dest and os.path.commonpath([dest, str(self.settings.inbox)]) == str(self.settings.inbox):
                self._consider(dest, closed=True)  # x.tmp → x.json: a complete file arrives by rename
        else:
            self._consider(src, closed=(kind == "closed"))

    def _consider(self, path: str, closed: bool) -> None:
        rel = os.path.relpath(path, self.settings.inbox)
        if self.rules.ignored(rel):
            self.rules.log_once(path)
            return
        self.gate.touch(path, closed=closed)

    def request_rescan(self) -> None:
        self._rescan_at = 0.0
        self.gate.wake.set()

    # ---- observer supervision ------------------------------------------------------------------------
    def _observer_alive(self) -> bool:
        obs = self.observer
        return obs is not None and obs.is_alive() and all(e.is_alive() for e in list(obs.emitters))

    def _start_observer(self) -> bool:
        self._stop_observer()
        inbox = self.settings.inbox
        try:
            private_dir(inbox)
            next(iter(os.scandir(inbox)), None)  # readable?
            obs = PollingObserver(timeout=POLL_INTERVAL) if self.settings.watch_polling else Observer()
            obs.schedule(_Handler(self), str(inbox), recursive=True)
            obs.start()
        except OSError as exc:
            self._outage += 1
            delay = min(2 ** (self._outage - 1), 30)
            log.error("inbox %s unavailable (%s); retrying in %ss", inbox, type(exc).__name__, delay)
            self._stop.wait(delay)
            return False
        if self._outage:
            log.info("inbox available again after %d failed attempts", self._outage)
        self._outage = 0
        self.observer = obs
        self.request_rescan()  # whatever happened while not watching
        log.info("watching %s (%s)", inbox, "polling" if self.settings.watch_polling else "native events")
        return True

    def _stop_observer(self) -> None:
        obs, self.observer = self.observer, None
        if obs is None:
            return
        try:
            obs.stop()
            if obs.is_alive():
                obs.join(timeout=5)
        except Exception as exc:  # noqa: BLE001 — a broken observer is replaced anyway
            log.warning("stopping the old observer failed: %s", type(exc).__name__)

    # ---- lease ---------------------------------------------------------------------------------------
    def _keep_lease(self) -> bool:
        now = time.monotonic()
        if self._holding and now < self._renew_at:
            return True
        name = lease_name(self.settings)
        try:
            ok = (
                leases.renew(name, self.holder, self.lease_ttl)
                if self._holding
                else leases.acquire(name, self.holder, self.lease_ttl)
            )
        except Exception as exc:  # noqa: BLE001 — database briefly unavailable: keep going, retry soon
            log.warning("lease %s not renewed: %s", name, type(exc).__name__)
            return self._holding
        if ok:
            if not self._holding:
                log.info("lease %s acquired", name)
            self._holding, self._warned_standby = True, False
            self._renew_at = now + min(RENEW_EVERY, self.lease_ttl.total_seconds() / 3)
            return True
        if self._holding:
            log.error("lease %s lost; stopping to watch", name)
            self._stop_observer()
        elif not self._warned_standby:
            log.warning("another watcher holds %s; standing by", name)
            self._warned_standby = True
        self._holding = False
        self.standby_checks += 1
        return False

    # ---- scans and dispatch ---------------------------------------------------------------------------
    def full_scan(self) -> int:
        """Dispatch everything in the inbox not yet pending or in flight; returns files sent to the consumer."""
        self.gate.expire()
        backlog = []
        try:
            for entry in walk(self.settings.inbox, self.rules):
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if self.gate.is_known(entry.path, st):
                    continue
                now = time.time()
                if now - st.st_mtime < max(self.settings.watch_quiet_seconds, 1.0) or not writers.settled(
                    entry.path, max(st.st_mtime, st.st_ctime), now, self.settings.watch_poll_quiet_seconds
                ):
                    self.gate.touch(entry.path)  # fresh or still being written: the gate decides when
                    continue
                self.gate.mark_inflight(entry.path, st)
                backlog.append(entry.path)
        except OSError as exc:
            log.error("inbox %s cannot be listed (%s); retrying", self.settings.inbox, type(exc).__name__)
            self._stop_observer()
            return 0
        if backlog:
            self.triggers.ingest(backlog)
        if backlog:
            log.info("scan: %d files sent to the consumer", len(backlog))
        self.scans_done += 1
        return len(backlog)

    def _dispatch(self, ready: list[tuple[str, os.stat_result]]) -> None:
        """Files that passed the gate together share a transaction (or a task): none waits for others to
        arrive, and a burst of thousands of files is not committed one transaction per file."""
        paths = [p for p, _ in ready]
        size = self.settings.ingest_batch
        for start in range(0, len(paths), size):
            chunk = paths[start : start + size]
            if self.inline:
                self._ingest_inline(chunk)
            else:
                self.triggers.ingest(chunk)

    def _ingest_inline(self, paths: list[str]) -> None:
        try:
            report = ingest_batch(paths, self.settings, self.triggers)
        except Exception as exc:  # noqa: BLE001 — never let one batch stop the watcher
            if len(paths) > 1:  # one file must not hold its neighbours back: try them one by one
                for path in paths:
                    self._ingest_inline([path])
                return
            log.error("ingesting %s failed: %s; will retry", ref(paths[0]), type(exc).__name__)
            self.gate.retry(paths[0])
            return
        self.gate.done(paths)
        for again in report.retry:
            self.gate.retry(again)
        self.report.merge(report)
        if self.on_ingested:
            self.on_ingested(report)

    def step(self) -> None:
        """One turn of the loop: lease, observer, scans, gate."""
        if not self._keep_lease():
            self._stop.wait(min(5.0, self.lease_ttl.total_seconds() / 3))
            return
        if not self._observer_alive():
            if self.observer is not None:
                log.error("watchdog observer died; restarting it")
            if not self._start_observer():
                return
        now = time.monotonic()
        if now >= self._rescan_at:
            self._rescan_at = now + self.settings.watch_rescan_seconds
            self.full_scan()
        ready = self.gate.ready()
        if ready:
            self._dispatch(ready)
        deadline = self.gate.next_deadline()
        timeout = min(0.5, deadline if deadline is not None else 0.5, max(0.0, self._rescan_at - time.monotonic()))
        self.gate.wake.wait(max(timeout, 0.005))
        self.gate.wake.clear()

    def run(self) -> None:
        """Watch until :meth:`stop` (SIGTERM/SIGINT in ``mediflux watch``); releases the lease at the end."""
        try:
            while not self._stop.is_set():
                self.step()
        finally:
            self._stop_observer()
            if self._holding:
                try:
                    leases.release(lease_name(self.settings), self.holder)
                except Exception as exc:  # noqa: BLE001 — it expires anyway
                    log.warning("lease not released: %s", type(exc).__name__)
            log.info("watcher stopped")

    def stop(self) -> None:
        self._stop.set()
        self.gate.wake.set()
