"""Real processes: the Procfile `worker` (huey_consumer) and `watcher` (mediflux watch) together; chaos."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from models import Document, IngestDuplicate, Lease
from tests.conftest import ROOT, procfile_command, stop_gracefully, wait_for
from tests.ingest_fixtures import corpus_files, variant, write_atomically
from worker.quarantine import entries


class Proc:
    """A Procfile line as a subprocess, restartable, its output appended to one log file."""

    def __init__(self, name: str, env: dict, home: Path) -> None:
        self.name, self.env, self.log_path = name, env, home / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                procfile_command(self.name), env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def term(self) -> int:
        return stop_gracefully(self.proc, timeout=45)


@pytest.fixture
def proc_env(env):
    return env | {
        "MEDIFLUX_WATCH_RESCAN_SECONDS": "2",
        "MEDIFLUX_WATCH_LEASE_SECONDS": "3",
        "MEDIFLUX_INGEST_GRACE_SECONDS": "1",
    }


def test_worker_and_watcher_ingest_backlog_and_live_files_then_stop_cleanly(database, proc_env, home):
    inbox = home / "inbox"
    files = corpus_files()
    expected = set()
    for i in range(30):  # a backlog waiting before anything starts
        data = variant(files[i % len(files)], i)
        p = inbox / f"u-{i % 3}" / f"old-{i}{''.join(files[i % len(files)].suffixes)}"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(p, (time.time() - 120, time.time() - 120))
        expected.add(hashlib.sha256(data).hexdigest())
    worker, watcher = Proc("worker", proc_env, home), Proc("watcher", proc_env, home)
    worker.start()
    watcher.start()
    try:
        wait_for(lambda: Document.select().count() == 30, timeout=60, message="the backlog via the consumer")
        for i in range(30, 40):  # live files, one written in place, one renamed into place
            data = variant(files[i % len(files)], i)
            target = inbox / f"live-{i}{''.join(files[i % len(files)].suffixes)}"
            write_atomically(target, data) if i % 2 else target.write_bytes(data)
            expected.add(hashlib.sha256(data).hexdigest())
        wait_for(lambda: Document.select().count() == 40, timeout=30, message="the live files")
        assert {d.sha256 for d in Document.select(Document.sha256)} == expected
        wait_for(
            lambda: Document.select().where(Document.analysis.is_null(False)).count() == 40,
            timeout=60,
            message="analysis triggered after ingestion",
        )
        assert not [p for p in inbox.rglob("*") if p.is_file()]
        assert Lease.select().where(Lease.name == f"watcher:{inbox}").count() == 1
    finally:
        codes = (watcher.term(), worker.term())
    assert codes == (0, 0), watcher.log_path.read_text()[-3000:]
    assert Lease.select().where(Lease.name == f"watcher:{inbox}").count() == 0  # released on SIGTERM
    log = watcher.log_path.read_text()
    assert "watcher stopped" in log and "Traceback" not in log


def _chaos(database, proc_env, home, valid_count: int, kills: int):
    inbox = home / "inbox"
    files = corpus_files()
    rng = random.Random(7)
    expected, bad = set(), 0
    producer_done = threading.Event()

    def produce():
        nonlocal bad
        for i in range(valid_count):
            src = files[i % len(files)]
            data = variant(src, i)
            folder = inbox / (f"u-{i % 7}" if i % 3 else "")
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"doc-{i}{''.join(src.suffixes)}"
            write_atomically(target, data) if i % 2 else target.write_bytes(data)
            expected.add(hashlib.sha256(data).hexdigest())
            if i % 20 == 0:
                (folder / f"bad-{i}.json").write_bytes(b'{"schema": "mediflux.ocr/1", "pages": [' + os.urandom(8))
                bad += 1
            time.sleep(0.008)  # ~10 s of landing, while processes are being killed
        producer_done.set()

    worker, watcher = Proc("worker", proc_env, home), Proc("watcher", proc_env, home)
    worker.start()
    watcher.start()
    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        for k in range(kills):
            time.sleep(rng.uniform(0.5, 1.5))
            victim = (worker, watcher)[k % 2]
            victim.kill()
            time.sleep(rng.uniform(0.0, 0.5))
            victim.start()
        thread.join(120)
        assert producer_done.is_set()
        wait_for(
            lambda: Document.select().count() == valid_count and len(entries(home)) == bad,
            timeout=90,
            interval=0.5,
            message="every file stored or quarantined",
        )
        wait_for(lambda: not [p for p in inbox.rglob("*") if p.is_file()], timeout=30, message="an empty inbox")
    finally:
        for p in (watcher, worker):
            if p.proc.poll() is None:
                p.term()
    assert {d.sha256 for d in Document.select(Document.sha256)} == expected
    assert IngestDuplicate.select().count() == 0  # a crash after commit is not a duplicate
    assert {e.sidecar["reason"] for e in entries(home)} <= {"invalid_json", "not_utf8", "binary"}


def test_chaos_1000_files_while_worker_and_watcher_are_killed(database, proc_env, home):
    _chaos(database, proc_env, home, valid_count=1000, kills=6)


@pytest.mark.slow
def test_chaos_long(database, proc_env, home):
    _chaos(database, proc_env, home, valid_count=3000, kills=20)
