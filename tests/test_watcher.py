"""The inbox watcher with a real watchdog observer on real folders (inotify, and polling)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import os
import shutil
import threading
import time

import pytest

from models import Document, Lease
from tests.conftest import wait_for
from tests.recording import RecordingTriggers
from tests.ingest_fixtures import one_per_format, sqlite_inbox_settings, variant, write_atomically
from worker import leases
from worker.ingest import ingest_paths
from worker.ingest.watcher import InboxWatcher, lease_name


@pytest.fixture
def s(tmp_path):
    yield from sqlite_inbox_settings(tmp_path, watch_quiet_seconds="0.05")


@pytest.fixture
def mflog(caplog):
    """Records of the ``mediflux`` logger (it does not propagate once a process configured logging)."""
    logger = logging.getLogger("mediflux")
    level, propagate = logger.level, logger.propagate
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.setLevel(level)
    logger.propagate = propagate


@contextlib.contextmanager
def running(watcher: InboxWatcher):
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: watcher.observer is not None, timeout=10, message="the observer to start")
        yield watcher
    finally:
        watcher.stop()
        thread.join(15)
        assert not thread.is_alive()


def Recorder(settings=None) -> RecordingTriggers:
    """Stands in for the consumer: records every enqueued batch (split as the huey triggers split them),
    and with ``settings`` ingests it."""
    if settings is None:
        return RecordingTriggers()
    return RecordingTriggers(batch=settings.ingest_batch, on_ingest=lambda paths: ingest_paths(paths, settings))


def rows():
    return Document.select().count()


TXT = one_per_format()[".txt"]


def test_closed_file_is_ingested_inline_quickly(s):
    with running(InboxWatcher(s, Recorder())):
        t0 = time.monotonic()
        (s.inbox / "a.txt").write_bytes(variant(TXT, 1))
        wait_for(lambda: rows() == 1, timeout=10, message="the row")
        assert time.monotonic() - t0 < 2.0
        (s.inbox / "u-7").mkdir()
        (s.inbox / "u-7" / "b.hocr").write_bytes(variant(one_per_format()[".hocr"], 1))
        wait_for(lambda: rows() == 2, timeout=10, message="the file in a user folder")
    assert Document.get(Document.format == "hocr").user.user_id == "u-7"
    assert not list(s.inbox.rglob("*.*"))


def test_rename_of_a_temp_file_is_an_arrival_and_the_temp_file_is_ignored(s, mflog):
    queued = Recorder()
    with running(InboxWatcher(s, queued)):
        write_atomically(s.inbox / "x.json", variant(one_per_format()[".json"], 1))
        wait_for(lambda: rows() == 1, timeout=10, message="the renamed file")
        for name in ("a.part", "b.tmp", "c.filepart", "~$d.txt", "._e.txt", ".DS_Store", "Thumbs.db", "desktop.ini"):
            (s.inbox / name).write_bytes(variant(TXT, 2))
            (s.inbox / name).write_bytes(variant(TXT, 3))  # a second event: still logged once
        for folder in ("@eaDir", ".stfolder", ".hidden"):
            (s.inbox / folder).mkdir()
            (s.inbox / folder / "f.txt").write_bytes(variant(TXT, 4))
        # A probe written after them: its events come after theirs, through the same gate, so once it is
        # ingested any of them wrongly let through would have been committed with it or before it.
        probe = s.inbox / "probe.txt"
        probe.write_bytes(variant(TXT, 5))
        wait_for(lambda: not probe.exists(), timeout=10, message="the probe written after the ignored files")
        assert Document.select().where(Document.format != "json").count() == 1 and not queued.paths
    skips = [r.getMessage() for r in mflog.records if r.getMessage().startswith("skipping")]
    assert len(skips) == len(set(skips)) >= 9
    assert all(".DS_Store" not in m and "Thumbs" not in m for m in skips)  # names never logged


def test_one_dispatch_per_version_chmod_and_touch_do_not_requeue(s):
    queued = Recorder()
    watcher = InboxWatcher(dataclasses.replace(s, watch_inline=False), queued)
    with running(watcher):
        path = s.inbox / "a.txt"
        path.write_bytes(variant(TXT, 1))
        wait_for(lambda: queued.paths == [str(path)], timeout=10, message="one live enqueue")
        os.chmod(path, 0o640)
        os.utime(path)
        with open(path, "rb"):
            pass
        probe = s.inbox / "probe.txt"  # its events follow those of the chmod and the touch
        probe.write_bytes(variant(TXT, 3))
        wait_for(lambda: len(queued.paths) >= 2, timeout=10, message="the probe written after the chmod")
        assert queued.paths == [str(path), str(probe)]
        path.write_bytes(variant(TXT, 2) + b" new version, longer")  # a real new version is dispatched
        wait_for(lambda: len(queued.paths) == 3, timeout=10, message="the new version")
        assert queued.paths[-1] == str(path)
    assert all(len(b) == 1 for b in queued.batches)  # one file at a time here: one per enqueue


def test_a_burst_of_live_files_shares_transactions(s):
    """Files that pass the gate together are committed together (at most MEDIFLUX_INGEST_BATCH each), not
    one transaction per file; each is still ingested as soon as it is ready."""
    s50 = dataclasses.replace(s, ingest_batch=50)
    watcher = InboxWatcher(s50, Recorder())
    reports = []
    watcher.on_ingested = reports.append
    with running(watcher):
        staging = s.home / "staging"
        staging.mkdir()
        for i in range(300):
            (staging / f"b{i}.txt").write_bytes(variant(TXT, 1000 + i))
        for i in range(300):  # a burst: 300 complete files renamed in within milliseconds
            os.rename(staging / f"b{i}.txt", s.inbox / f"b{i}.txt")
        wait_for(lambda: Document.select().count() == 300, timeout=30, message="the burst")
    sizes = [len(r.stored) for r in reports if r.stored]
    assert sum(sizes) == 300 and max(sizes) <= 50
    assert len(sizes) < 60  # shared transactions (one per file would be 300)
    assert not any(s.inbox.iterdir())


def test_startup_scan_sends_the_backlog_in_batches(s):
    s3 = dataclasses.replace(s, ingest_batch=3)
    paths = []
    for i in range(7):
        p = s.inbox / ("u-1" if i % 2 else ".") / f"old{i}.txt"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(variant(TXT, i))
        os.utime(p, (time.time() - 60, time.time() - 60))
        paths.append(str(p.resolve()))
    (s.inbox / "skip.part").write_bytes(b"partial")
    queued = Recorder(s3)
    with running(InboxWatcher(s3, queued)):
        wait_for(lambda: rows() == 7, timeout=10, message="the backlog")
    assert sorted(queued.paths) == sorted(paths) and [len(b) for b in queued.batches] == [3, 3, 1]
    assert (s.inbox / "skip.part").exists()


def test_polling_mode(s):
    with running(InboxWatcher(dataclasses.replace(s, watch_polling=True), Recorder())) as w:
        assert type(w.observer).__name__ == "PollingObserver"
        (s.inbox / "p.tsv").write_bytes(variant(one_per_format()[".tsv"], 1))
        wait_for(lambda: rows() == 1, timeout=10, message="the polled file")


def test_a_dead_observer_is_restarted(s):
    with running(InboxWatcher(s, Recorder())) as w:
        first = w.observer
        first.stop()  # as if its thread died
        wait_for(
            lambda: w.observer is not None and w.observer is not first and w.observer.is_alive(),
            timeout=10,
            message="a new observer",
        )
        (s.inbox / "after.txt").write_bytes(variant(TXT, 1))
        wait_for(lambda: rows() == 1, timeout=10, message="a file after the restart")


def test_handler_exception_does_not_lose_the_file(s, monkeypatch):
    watcher = InboxWatcher(dataclasses.replace(s, watch_rescan_seconds=3600), Recorder(s))
    real = watcher.on_event
    failures = []

    def flaky(event):
        if not failures:
            failures.append(event)
            raise RuntimeError("bug in a handler")
        real(event)

    monkeypatch.setattr(watcher, "on_event", flaky)
    with running(watcher):
        (s.inbox / "a.txt").write_bytes(variant(TXT, 1))
        wait_for(lambda: rows() == 1, timeout=10, message="the file, found by the rescan after the failure")
        assert failures and watcher.observer.is_alive()


def test_deleted_inbox_is_recreated_and_a_blocked_one_is_retried(s, mflog):
    with running(InboxWatcher(s, Recorder())) as w:
        shutil.rmtree(s.inbox)
        wait_for(
            lambda: (
                s.inbox.is_dir()
                and w.observer is not None
                and w.observer.is_alive()
                and all(e.is_alive() for e in w.observer.emitters)
            ),
            timeout=15,
            message="the inbox back",
        )
        time.sleep(0.2)
        (s.inbox / "a.txt").write_bytes(variant(TXT, 1))
        wait_for(lambda: rows() == 1, timeout=10, message="a file in the recreated inbox")
        shutil.rmtree(s.inbox)
        s.inbox.write_text("not a folder")  # e.g. a mount gone wrong
        wait_for(
            lambda: any("unavailable" in r.getMessage() for r in mflog.records),
            timeout=15,
            message="the outage to be reported",
        )
        s.inbox.unlink()
        wait_for(lambda: s.inbox.is_dir() and w.observer is not None, timeout=15, message="recovery")
        time.sleep(0.2)
        (s.inbox / "b.txt").write_bytes(variant(TXT, 2))
        wait_for(lambda: rows() == 2, timeout=10, message="a file after recovery")


def test_only_one_watcher_per_inbox_and_takeover(s):
    ttl = dt.timedelta(seconds=2)
    first = InboxWatcher(s, Recorder(), lease_ttl=ttl)
    second = InboxWatcher(s, Recorder(), lease_ttl=ttl)
    with running(first):
        t = threading.Thread(target=second.run, daemon=True)
        t.start()
        # Refused twice: it asked again after standing by, and still stands by.
        wait_for(lambda: second.standby_checks >= 2, timeout=10, message="the standby to ask twice")
        assert second.observer is None and leases.holder_of(lease_name(s)) == first.holder
    # first released its lease on stop: the standby takes over
    wait_for(lambda: second.observer is not None, timeout=10, message="the standby to take over")
    (s.inbox / "a.txt").write_bytes(variant(TXT, 1))
    wait_for(lambda: rows() == 1, timeout=10, message="the standby to ingest")
    assert Lease.get(Lease.name == lease_name(s)).holder == second.holder
    second.stop()
    t.join(10)


def test_periodic_rescan_finds_what_events_missed(s, monkeypatch):
    """As if inotify overflowed (watchdog only logs it): no event at all, the rescan still finds the file."""
    queued = Recorder(s)
    watcher = InboxWatcher(dataclasses.replace(s, watch_rescan_seconds=1.0), queued)
    monkeypatch.setattr(watcher, "on_event", lambda event: None)
    with running(watcher):
        path = s.inbox / "missed.txt"
        path.write_bytes(variant(TXT, 1))
        os.utime(path, (time.time() - 30, time.time() - 30))
        wait_for(lambda: rows() == 1, timeout=10, message="the periodic rescan")
    assert queued.paths == [str(path)]


def test_extra_ignore_patterns(tmp_path):
    gen = sqlite_inbox_settings(tmp_path, watch_ignore="*.bak,scratch/")
    s = next(gen)
    queued = Recorder()
    try:
        staging = s.home / "staging"
        (staging / "scratch").mkdir(parents=True)
        for i, path in enumerate((staging / "a.bak", staging / "scratch" / "b.txt")):
            path.write_bytes(variant(TXT, i + 1))
            os.utime(path, (time.time() - 60, time.time() - 60))  # settled: a scan sends it to the consumer at once
        ignored = [s.inbox / "a.bak", s.inbox / "scratch" / "b.txt"]
        with running(InboxWatcher(s, queued)) as w:
            os.rename(staging / "a.bak", ignored[0])  # an arrival: the events path
            os.rename(staging / "scratch", s.inbox / "scratch")  # a folder moved in: the scan path
            (s.inbox / "c.txt").write_bytes(variant(TXT, 3))  # after them: its events follow theirs
            wait_for(lambda: rows() == 1, timeout=10, message="the one file not ignored")
            scans = w.scans_done  # scans and inline ingestion share the loop: a later scan started after c.txt
            w.request_rescan()
            wait_for(lambda: w.scans_done > scans, timeout=10, message="a full rescan after the files arrived")
            assert rows() == 1 and not queued.paths and all(p.exists() for p in ignored)
    finally:
        gen.close()
