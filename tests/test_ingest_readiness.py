"""A file is taken only when no one can still be writing it (docs/ingestion.md, Readiness).

Slow writers are real processes: one open, the content in chunks with pauses from 10 ms to 2 s, then the
close (an upload streamed to disk, ``curl -o``, a scanner driver). Whatever path takes the files (the live
watcher on inotify, a watcher restarted mid-write, polling mode, ``mediflux ingest --now``), every document
must be stored whole: its row's SHA-256 is that of all the bytes written, and its text is what the parser
makes of them. The lease check itself is tried against a real writer process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from models import Document
from tests.conftest import run_cli, wait_for
from tests.ingest_fixtures import one_per_format, variant
from tests.recording import RecordingTriggers
from worker.ingest import ingest_paths, writers
from worker.ingest.batch import ingest_batch
from worker.ingest.gate import StabilityGate
from worker.ingest.parse import parse_document
from worker.ingest.watcher import InboxWatcher

# Writes each planned file from its own thread: open once, the bytes in len(pauses) + 1 chunks with those
# pauses between them, close. Prints "open <i>" once file i is open and "done" at the end.
WRITER = r"""
import json, os, sys, threading, time
plan = json.load(sys.stdin)
printed = threading.Lock()
def say(line):
    with printed:
        print(line, flush=True)
def write(i, item):
    data = open(item["src"], "rb").read()
    pauses = item["pauses"]
    n = len(pauses) + 1
    cuts = [len(data) * k // n for k in range(n + 1)]
    os.makedirs(os.path.dirname(item["path"]), exist_ok=True)
    fd = os.open(item["path"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    say(f"open {i}")
    for k in range(n):
        os.write(fd, data[cuts[k]:cuts[k + 1]])
        if k < len(pauses):
            time.sleep(pauses[k])
    os.close(fd)
threads = [threading.Thread(target=write, args=(i, item)) for i, item in enumerate(plan)]
for t in threads: t.start()
for t in threads: t.join()
say("done")
"""
# Pauses between chunks: short ones a quiet gate would let through, and the 2 s pause of a stalled upload.
PAUSES = ([0.01, 0.05, 0.2], [0.2, 2.0], [2.0, 0.01], [0.1, 0.1, 0.5, 0.01], [0.05, 1.0, 0.05])
HOLDER = "import os, sys; os.open(sys.argv[1], getattr(os, sys.argv[2])); print('held', flush=True); sys.stdin.read()"


@dataclasses.dataclass
class Written:
    """What the writers wrote: inbox path → bytes."""

    files: dict[str, bytes]

    def expect(self) -> dict[str, str]:
        """SHA-256 → stored text, for every file."""
        return {
            hashlib.sha256(data).hexdigest(): parse_document(data, os.path.basename(p)).text
            for p, data in self.files.items()
        }


def plan(folder: Path, staging: Path, copies: int = 1, start: int = 0) -> tuple[list[dict], Written]:
    """``copies`` files per format (all five), under ``folder`` and a user folder, with varied pauses."""
    staging.mkdir(parents=True, exist_ok=True)
    items, files = [], {}
    formats = list(one_per_format().items())
    for n in range(start, start + copies * len(formats)):
        suffix, corpus = formats[n % len(formats)]
        data = variant(corpus, 10_000 + n)
        src = staging / f"src{n}{suffix}"
        src.write_bytes(data)
        target = folder / ("u-9" if n % 2 else ".") / f"slow{n}{suffix}"
        items.append({"src": str(src), "path": str(target), "pauses": PAUSES[n % len(PAUSES)]})
        files[os.path.normpath(str(target))] = data
    return items, Written(files)


class Writers:
    """A real writer process running ``items``; ``opened()`` counts the files it holds open so far."""

    def __init__(self, items: list[dict]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(items))
        self.proc.stdin.close()
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def opened(self) -> int:
        return sum(1 for line in self.lines if line.startswith("open "))

    def wait(self, timeout: float = 30) -> None:
        assert self.proc.wait(timeout) == 0
        self._reader.join(5)
        assert self.lines[-1] == "done"


def stored() -> dict[str, str]:
    return {d.sha256: d.text for d in Document.select(Document.sha256, Document.text)}


def assert_whole(written: Written) -> None:
    """0 truncated rows, 0 lost documents: exactly the written contents, each stored with its full text."""
    rows = stored()
    expected = written.expect()
    truncated = set(rows) - set(expected)
    lost = set(expected) - set(rows)
    assert not truncated and not lost, f"{len(truncated)} truncated rows, {len(lost)} lost documents"
    assert rows == expected


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


def consumer(settings) -> RecordingTriggers:
    """Stands in for the consumer: ingests each enqueued batch at once."""
    return RecordingTriggers(batch=settings.ingest_batch, on_ingest=lambda paths: ingest_paths(paths, settings))


def inbox_empty(settings) -> bool:
    return not [p for p in settings.inbox.rglob("*") if p.is_file()]


# ---- the lease check ------------------------------------------------------------------------------------
@contextlib.contextmanager
def held(path: Path, mode: str):
    """Another process holding ``path`` open (``mode``: an os.O_* name) until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout and proc.stdout.readline().strip() == "held"
    try:
        yield proc
    finally:
        assert proc.stdin
        proc.stdin.close()
        proc.wait(10)


def test_a_file_open_for_writing_in_another_process_is_refused_and_accepted_once_closed(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"some text")
    assert writers.state(str(path)) is writers.Writers.NONE
    with held(path, "O_WRONLY"):
        assert writers.state(str(path)) is writers.Writers.OPEN
        assert writers.being_written(str(path)) and writers.may_be_written(str(path))
        fd = os.open(path, os.O_RDONLY)
        try:
            assert writers.being_written(fd)  # the same answer on a descriptor
        finally:
            os.close(fd)
        assert not writers.settled(str(path), 0.0, time.time(), quiet=5.0)  # however old it looks
    assert writers.state(str(path)) is writers.Writers.NONE and not writers.may_be_written(str(path))
    with held(path, "O_RDWR"):
        assert writers.being_written(str(path))
    with held(path, "O_RDONLY"):  # a reader is no writer
        assert not writers.may_be_written(str(path))
    assert writers.settled(str(path), time.time(), time.time(), quiet=5.0)


def test_links_fifos_and_missing_files_are_never_opened(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to(fifo)
    for path in (fifo, link, tmp_path / "missing"):
        assert writers.state(str(path)) is writers.Writers.NONE  # nothing to protect: the store refuses those


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a check as another user")
def test_without_a_right_to_the_lease_it_cannot_tell_and_falls_back_to_a_quiet_period():
    """A lease needs the file's owner (or CAP_LEASE): the worker running as another user than the writer
    cannot tell, and a scan then takes the file only after the quiet period."""
    folder = Path(tempfile.mkdtemp(prefix="lease-"))
    try:
        os.chmod(folder, 0o755)
        path = folder / "root-owned.txt"
        path.write_bytes(b"text")
        os.chmod(path, 0o644)
        check = (
            "import os, sys, time\n"
            "from worker.ingest import writers\n"
            "os.setgid(65534); os.setuid(65534)\n"
            "p = sys.argv[1]; now = time.time()\n"
            "print(writers.state(p).value, writers.settled(p, now, now, 5.0), writers.settled(p, now - 6, now, 5.0))"
        )
        out = subprocess.run(
            [sys.executable, "-c", check, str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["unknown", "False", "True"]
    finally:
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()


def test_ingestion_leaves_a_file_being_written_and_takes_it_once_closed(tmp_path):
    from tests.ingest_fixtures import sqlite_inbox_settings

    gen = sqlite_inbox_settings(tmp_path)
    s = next(gen)
    try:
        path = s.inbox / "a.txt"
        data = variant(one_per_format()[".txt"], 1)
        path.write_bytes(data)
        with held(path, "O_WRONLY"):
            report = ingest_batch([str(path)], s)
            assert report.retry == [str(path)] and report.reasons == {"being_written": 1}
            assert path.exists() and Document.select().count() == 0
            big = s.inbox / "big.txt"  # refused unread (too large) but still written: not moved either
            big.write_bytes(b"x" * (s.max_file_mb * 1024 * 1024 + 1))
            with held(big, "O_WRONLY"):
                report = ingest_batch([str(big)], s)
            assert report.reasons == {"being_written": 1} and big.exists() and report.quarantined == 0
        report = ingest_batch([str(path)], s)
        assert len(report.stored) == 1 and not path.exists()
        assert Document.get().sha256 == hashlib.sha256(data).hexdigest()
    finally:
        gen.close()


def test_the_gate_arms_on_writes_and_takes_a_file_once_no_writer_holds_it(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"first chunk")
    gate = StabilityGate(quiet=0.01, inflight_ttl=60)
    with held(path, "O_WRONLY"):
        gate.touch(str(path))  # modified: armed
        time.sleep(0.05)
        assert gate.ready() == []  # quiet, but a writer holds it
        gate.touch(str(path), closed=True)  # some writer closed it, another one still holds it
        assert gate.ready() == [] and len(gate) == 1
    wait_for(lambda: gate.ready(), timeout=5, message="the file once its writer is gone")
    closed = StabilityGate(quiet=10.0, inflight_ttl=60)  # a close-after-write waits for no quiet period
    other = tmp_path / "b.txt"
    other.write_bytes(b"whole")
    closed.touch(str(other), closed=True)
    assert [p for p, _ in closed.ready()] == [str(other)]


def test_where_the_kernel_cannot_tell_an_armed_file_needs_the_long_quiet_period(tmp_path):
    """The fallback (NFS, SMB, another user's file: tried for real above as another user): armed files wait
    for ``fallback_quiet`` seconds of an unchanged size and mtime; a close or a move-in is still taken at once."""
    now = [100.0]
    gate = StabilityGate(
        quiet=0.05, inflight_ttl=60, clock=lambda: now[0], fallback_quiet=5.0, writers=lambda _: writers.Writers.UNKNOWN
    )
    path = tmp_path / "a.txt"
    path.write_bytes(b"part")
    gate.touch(str(path))
    now[0] += 1.0
    assert gate.ready() == []  # first look: the signature is noted
    path.write_bytes(b"part and more")  # changed (no event seen: a remote writer)
    now[0] += 5.5
    assert gate.ready() == []  # the second look sees the change: 5 s again from here
    now[0] += 4.9
    assert gate.ready() == []
    now[0] += 0.2
    assert [p for p, _ in gate.ready()] == [str(path)]
    moved = tmp_path / "b.txt"
    moved.write_bytes(b"renamed in")
    gate.touch(str(moved), closed=True)
    assert [p for p, _ in gate.ready()] == [str(moved)]


# Once the store has read the watched file (its first close without write), open it for writing and hold it.
REOPENER = r"""
import os, sys, threading
from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer
target, got = os.path.abspath(sys.argv[1]), threading.Event()
class H(FileSystemEventHandler):
    def on_any_event(self, event):
        if event.event_type == "closed_no_write" and os.fsdecode(event.src_path) == target and not got.is_set():
            fd = os.open(target, os.O_WRONLY | os.O_APPEND)
            got.set()
obs = Observer()
obs.schedule(H(), os.path.dirname(target))
obs.start()
print("watching", flush=True)
got.wait(60)
print("held", flush=True)
sys.stdin.read()
"""


def test_a_file_opened_for_writing_again_after_its_read_is_not_removed(tmp_path):
    """The removal step asks again: a writer that opened the file between the read and the removal keeps it
    (the row committed meanwhile is the complete version read; the file is retried, not deleted under it)."""
    from tests.ingest_fixtures import sqlite_inbox_settings

    gen = sqlite_inbox_settings(tmp_path)
    s = next(gen)
    try:
        first = s.inbox / "a.txt"
        first.write_bytes(variant(one_per_format()[".txt"], 1))
        others = []
        for i in range(1500):  # read after the first one: time for the other process to open it
            other = s.inbox / f"o{i}.txt"
            other.write_bytes(variant(one_per_format()[".txt"], 100 + i))
            others.append(str(other))
        proc = subprocess.Popen(
            [sys.executable, "-c", REOPENER, str(first)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout and proc.stdout.readline().strip() == "watching"
        try:
            report = ingest_batch([str(first)] + others, s)
            assert proc.stdout.readline().strip() == "held"
            assert report.retry == [str(first)] and report.reasons == {"being_written": 1}
            assert first.exists() and len(report.stored) == 1501 and inbox_empty(s) is False
        finally:
            assert proc.stdin
            proc.stdin.close()
            proc.wait(10)
        again = ingest_batch([str(first)], s)  # the writer is gone: the same file, already stored, is removed
        assert again.already_stored == 1 and not again.stored and not first.exists()
    finally:
        gen.close()


# ---- slow writers, on every path that takes files ------------------------------------------------------
@pytest.fixture
def s(settings, database):
    return settings


def test_slow_writers_on_the_live_path_are_stored_whole(s, tmp_path):
    """inotify: data written, then 2 s of silence with the file still open, is not a complete file."""
    items, written = plan(s.inbox, tmp_path / "staging", copies=2)
    with running(InboxWatcher(s, consumer(s))):
        w = Writers(items)
        w.wait()
        wait_for(lambda: len(stored()) >= len(items) and inbox_empty(s), timeout=30, message="every document")
    assert_whole(written)


def test_a_closed_file_needs_no_quiet_wait(s):
    """Readiness comes from the close-after-write: a quiet period of 5 s does not delay a closed file."""
    slow_gate = dataclasses.replace(s, watch_quiet_seconds=5.0)
    with running(InboxWatcher(slow_gate, consumer(s))):
        t0 = time.monotonic()
        (s.inbox / "a.txt").write_bytes(variant(one_per_format()[".txt"], 1))
        wait_for(lambda: len(stored()) == 1, timeout=10, message="the row")
        assert time.monotonic() - t0 < 2.0


def test_slow_writers_through_a_watcher_restart(s, tmp_path):
    """The watcher stops mid-write and a new one starts: its startup scan finds files still open and waits
    for their close; files closed while no watcher ran are taken from the scan."""
    items, written = plan(s.inbox, tmp_path / "staging", copies=2)
    for item in items:
        item["pauses"] = [0.05, 2.0, 0.05]  # long enough to stop and start a watcher in between
    triggers = consumer(s)
    with running(InboxWatcher(s, triggers)):
        w = Writers(items)
        wait_for(lambda: w.opened() == len(items), timeout=10, message="the writers to start")
        time.sleep(0.3)
    time.sleep(0.2)
    with running(InboxWatcher(s, triggers)):
        w.wait()
        wait_for(lambda: len(stored()) >= len(items) and inbox_empty(s), timeout=30, message="every document")
    assert_whole(written)


def test_slow_writers_in_polling_mode(s, tmp_path):
    items, written = plan(s.inbox, tmp_path / "staging", copies=1)
    with running(InboxWatcher(dataclasses.replace(s, watch_polling=True), consumer(s))) as watcher:
        assert type(watcher.observer).__name__ == "PollingObserver"
        w = Writers(items)
        w.wait()
        wait_for(lambda: len(stored()) >= len(items) and inbox_empty(s), timeout=30, message="every document")
    assert_whole(written)


@pytest.mark.parametrize("where", ["inbox", "outside"])
def test_ingest_now_on_a_folder_being_written(env, s, tmp_path, where):
    """``mediflux ingest --now DIR`` run again and again while writers write into DIR: files still open are
    left for a retry (exit 1), never stored as a prefix; the last run, after the writers, takes the rest."""
    folder = s.inbox if where == "inbox" else tmp_path / "drop"
    items, written = plan(folder, tmp_path / "staging", copies=1)
    for item in items:
        item["pauses"] = [0.01, 2.0] + item["pauses"]  # the first run starts during the 2 s pause
    w = Writers(items)
    wait_for(lambda: w.opened() == len(items), timeout=10, message="the writers to start")
    runs = []
    while w.proc.poll() is None:
        runs.append(run_cli(env, "ingest", "--now", "--json", str(folder)))
    w.wait()
    runs.append(last := run_cli(env, "ingest", "--now", "--json", str(folder)))
    assert last.returncode == 0, last.stderr
    assert any(r.returncode == 1 and json.loads(r.stdout)["still_being_written"] for r in runs[:-1])
    if where == "outside":  # the originals are left alone (what was copied in is compared by content)
        assert all(os.path.exists(p) for p in written.files)
    assert_whole(written)
    assert inbox_empty(s)


@pytest.mark.slow
def test_soak_many_slow_writers_live_and_restarted(s, tmp_path):
    items, written = plan(s.inbox, tmp_path / "staging", copies=200)  # 1,000 files, 5 formats
    triggers = consumer(s)
    w = Writers(items)
    deadline = time.monotonic() + 60
    while w.proc.poll() is None and time.monotonic() < deadline:
        with running(InboxWatcher(s, triggers)):
            time.sleep(0.7)
    with running(InboxWatcher(s, triggers)):
        w.wait(120)
        wait_for(lambda: len(stored()) >= len(items) and inbox_empty(s), timeout=120, message="every document")
    assert_whole(written)
