"""The OCR stage as a stage: real consumer killed -9 mid-OCR, rediscovery by the rescan, crash leftovers,
queue priority below ingestion, the per-process bound on OCR tasks."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import time_machine

from models import Document
from tests import ocr_fixtures as fx
from tests.conftest import ROOT, run_cli, wait_for
from tests.ocr_fixtures import database_url, needs_tesseract  # noqa: F401  (fixtures)
from tests.recording import RecordingTriggers
from tests.test_ingest_processes import Proc
from worker.ocr import stage, workspace
from worker.queue import PRIORITY_ANALYSIS, PRIORITY_INGEST, PRIORITY_OCR, read_sqlite_file


def _ocr_processes(home: Path) -> list[str]:
    """Command lines of running processes working in this home's OCR folder (the child and Tesseract)."""
    marker = str(home / "ocr" / "tmp")
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z":
            found.append(cmd)
    return found


def test_sigkill_mid_ocr_loses_nothing_duplicates_nothing_and_leaves_no_process(database, env, home):
    env = env | {"MEDIFLUX_OCR_DPI": "150", "MEDIFLUX_OCR_PROCESSES": "1", "MEDIFLUX_INGEST_GRACE_SECONDS": "0"}
    pages = [("scan", fx.page_image([f"PAGE {i} du compte rendu", *fx.LINES])) for i in range(1, 7)]
    scan = fx.pdf(pages)
    target = home / "inbox" / "u-1" / "scan.pdf"
    target.parent.mkdir(parents=True)
    target.write_bytes(scan)
    worker = Proc("worker", env, home)
    worker.start()
    try:
        assert run_cli(env, "ingest", str(target)).returncode == 0  # ingest_files → routed → ocr_files
        wait_for(
            lambda: any("page-0002" in c for c in _ocr_processes(home)), timeout=60, message="OCR of page 2 running"
        )
        worker.kill()
        wait_for(lambda: not _ocr_processes(home), timeout=10, message="the OCR child and Tesseract dying with it")
        assert target.exists() and Document.select().count() == 0  # the inbox file is still the ledger
        assert any(p.is_dir() for p in (home / "ocr" / "tmp").iterdir())  # the killed job's folder is left
        worker.start()
        assert run_cli(env, "ingest", str(target)).returncode == 0  # rediscovered (a rescan does the same)
        wait_for(lambda: Document.select().count() == 1 and not target.exists(), timeout=90, message="stored")
        doc = Document.get()
        assert len(doc.pages) == 6 and doc.meta["ocr"]["engine"] == "tesseract"
        assert "page 6" in doc.pages[5]["text"].lower()
        assert list((home / "ocr" / "tmp").iterdir()) == []  # the crash's leftovers were cleaned
        again = home / "inbox" / "u-1" / "same-again.pdf"  # the same upload again: one document
        again.write_bytes(scan)
        assert run_cli(env, "ingest", str(again)).returncode == 0
        wait_for(lambda: not again.exists(), timeout=30, message="the duplicate removed")
        assert Document.select().count() == 1
        wait_for(lambda: Document.get().analysis is not None, timeout=60, message="the OCRed document analysed")
    finally:
        if worker.proc and worker.proc.poll() is None:
            worker.term()
    log = (home / "worker.log").read_text()
    assert "Paracétamol" not in log and "compte rendu" not in log.lower()  # no page text in the logs


def test_inbox_rescan_rediscovers_images_and_pdfs_left_behind(settings, database):
    from models.clock import utcnow
    from worker.ingest import rescan
    from worker.periodic import JobContext

    s = dataclasses.replace(settings, ingest_grace_seconds=0.0)
    left = s.inbox / "u-1" / "left.jpg"
    left.parent.mkdir(parents=True)
    left.write_bytes(fx.encode(fx.page_image(), "JPEG"))
    triggers = RecordingTriggers()
    with time_machine.travel(time.time() + 120, tick=False):
        summary = rescan.run(
            JobContext("inbox_rescan", utcnow(), time.monotonic() + 300, settings=s, triggers=triggers)
        )
    assert triggers.ocred == [[str(left)]] and summary["found"] == 1 and left.exists()


def test_job_folders_of_dead_processes_are_removed_live_ones_kept(settings, database):
    dead = workspace.tmp_root(settings) / "deadbeef"
    dead.mkdir()
    (dead / "input").write_bytes(b"raw health data")
    with workspace.job(settings, "live") as live:
        assert live is not None and oct(live.stat().st_mode & 0o777) == "0o700"
        with workspace.job(settings, "live") as second:
            assert second is None  # the same key is one job at a time
        assert workspace.clean_stale(settings) == 1
        assert not dead.exists() and live.exists()
    assert not live.exists() and os.listdir(workspace.tmp_root(settings)) == []
    assert oct(workspace.tmp_root(settings).stat().st_mode & 0o777) == "0o700"


def test_housekeeping_removes_crash_leftovers(settings, database):
    from models.clock import utcnow
    from worker import housekeeping
    from worker.periodic import JobContext

    left = workspace.tmp_root(settings) / "0123abcd"
    left.mkdir()
    (left / "input").write_bytes(b"a photo")
    summary = housekeeping.run(JobContext("housekeeping", utcnow(), time.monotonic() + 60, settings=settings))
    assert summary["ocr_leftovers_removed"] == 1 and not left.exists()


def test_ocr_tasks_queue_below_ingestion_and_analysis(env, home):
    assert PRIORITY_OCR < PRIORITY_ANALYSIS < PRIORITY_INGEST
    inbox = home / "inbox"  # tasks carry opaque keys of inbox files: the paths must be in the inbox
    a, b, c = (str(inbox / name) for name in ("a.png", "b.pdf", "c.json"))
    code = f"import tasks; t = tasks.connect().triggers; t.ocr([{a!r}, {b!r}]); t.ingest([{c!r}])"
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, timeout=60)
    counts = read_sqlite_file(home / "queue.db", env["MEDIFLUX_QUEUE_NAME"])
    assert counts.by_priority == {PRIORITY_INGEST: 1, PRIORITY_OCR: 2}
    status = json.loads(run_cli(env, "status", "--json").stdout)
    assert status["queue"]["pending_by_priority"] == {str(PRIORITY_INGEST): 1, str(PRIORITY_OCR): 2}
    assert "2 at -20 (ocr)" in run_cli(env, "status").stdout  # the OCR queue, named, for operators


def test_a_process_runs_at_most_ocr_processes_tasks_at_once_and_one_thread_waits(settings):
    import threading

    s = dataclasses.replace(settings, ocr_processes=2)
    assert stage.try_begin(s, ["k1"]) and stage.try_begin(s, ["k2"])
    waiter_got: list[bool] = []
    waiter = threading.Thread(target=lambda: waiter_got.append(stage.try_begin(s, ["k3"], wait=30)))
    waiter.start()
    wait_for(lambda: stage._waiting[0] == 1, message="one thread waiting for a place")
    assert not stage.try_begin(s, ["k4"], 2, wait=30)  # a second waiter is refused at once: its keys are deferred
    assert not stage.try_begin(s, ["k4"], 2, wait=30)  # its put-back copy, before a place took them: deferred once
    assert not stage.try_begin(s, ["k5"], wait=30)
    # A document ends: its thread goes on with the oldest deferred keys, keeping its place (no core waits for the
    # put-back task); the waiter still waits.
    assert stage.next_or_end(s) == (["k4"], 2)
    assert stage.next_or_end(s) == (["k5"], 0)
    assert waiter_got == [] and waiter.is_alive()
    assert stage.next_or_end(s) is None  # nothing deferred: the place is given back, and the waiter takes it
    waiter.join(10)
    assert waiter_got == [True]
    assert stage.next_or_end(s) is None
    stage.end(s)  # a document that raised gives its place back without looking at deferred work
    assert stage.try_begin(s, wait=0)
    stage.end(s)


class _RecordingHuey:
    """Just enough of huey for ``tasks.ocr.register``: the task is the plain function, ``schedule`` is noted."""

    def __init__(self) -> None:
        self.scheduled: list[tuple[tuple, float]] = []

    def task(self, **_options):
        def register(fn):
            fn.schedule = lambda args, delay: self.scheduled.append((args, delay))
            return fn

        return register


def test_a_deferred_file_is_ocred_by_the_thread_that_frees_a_place_in_the_same_task(
    settings, database, needs_tesseract
):
    """Through the task wrapper: both places busy and a thread waiting, a third file is deferred (its task put
    back for later); when a place frees, the waiting thread's task OCRs its own file and then the deferred one,
    without the core waiting for the put-back task, which then finds nothing left to do."""
    import threading

    import tasks.ocr as ocr_task
    from worker.ingest import tokens

    s = dataclasses.replace(settings, ocr_processes=1, ingest_grace_seconds=0)
    huey = _RecordingHuey()
    runtime = type("Runtime", (), {"settings": s, "triggers": RecordingTriggers()})()
    ocr_files = ocr_task.register(huey, runtime)  # type: ignore[arg-type]
    folder = s.inbox / "u-1"
    folder.mkdir(parents=True)
    keys = []
    for i in range(2):
        path = folder / f"p{i}.png"
        path.write_bytes(fx.encode(fx.page_image([f"Ordonnance numero {i}", *fx.LINES[:2]]), "PNG"))
        keys.append(tokens.keys_of(s, [str(path)]))
    assert stage.try_begin(s)  # a document elsewhere holds the only place
    results: list[dict] = []
    waiter = threading.Thread(target=lambda: results.append(ocr_files(keys[0])))
    waiter.start()
    wait_for(lambda: stage._waiting[0] == 1, message="the first file's task waiting for the place")
    assert ocr_files(keys[1]) == {"busy": True}  # deferred, and put back for later in case this process dies
    assert huey.scheduled == [((keys[1], 0), ocr_task.BUSY_DELAY)]
    stage.end(s)  # that document ends: the waiting task takes the place
    waiter.join(120)
    assert len(results) == 1 and len(results[0]["documents"]) == 2, results  # its own file, then the deferred one
    assert Document.select().count() == 2 and not list(folder.iterdir())
    assert ocr_files(*huey.scheduled[0][0]) == {"gone": True}  # the put-back copy: done already
    assert stage.try_begin(s, wait=0)  # the place was given back
    stage.end(s)


def test_no_more_ocr_children_run_at_once_than_the_pool_allows_whatever_calls_them(settings, needs_tesseract):
    """Three callers at once (three consumers' threads, say) with a pool of one: one child process decodes at a
    time, and all three documents are read."""
    import threading

    s = dataclasses.replace(settings, ocr_processes=1)
    images = [fx.encode(fx.page_image([f"Compte rendu numero {i}", *fx.LINES[:2]]), "PNG") for i in range(3)]
    results: list[str] = []
    callers = [threading.Thread(target=lambda im=im: results.append(stage.ocr_bytes(im, s).text)) for im in images]

    def children() -> int:
        """OCR children of this process (not the copy a child forks just before it execs Tesseract)."""
        found = 0
        for pid in os.listdir("/proc"):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except (OSError, IndexError):
                continue
            found += stat[0] != "Z" and int(stat[1]) == os.getpid() and b"worker.ocr.child" in cmd
        return found

    most = 0
    for caller in callers:
        caller.start()
    while any(c.is_alive() for c in callers):
        most = max(most, children())
        time.sleep(0.005)
    assert len(results) == 3 and all("numero" in text for text in results), results
    assert most == 1


def test_operator_state_counts_running_jobs_busy_slots_and_crash_leftovers(settings, database):
    from worker import opstate
    from worker.ocr import tesseract

    s = dataclasses.replace(settings, ocr_processes=2)
    (workspace.tmp_root(s) / "left-by-a-crash").mkdir()
    assert opstate.ocr_state(s) == {"running": 0, "stale": 1, "slots": 2, "slots_busy": 0}
    with workspace.job(s, "k1") as folder, tesseract.slot(workspace.slots_dir(s), 2):
        assert folder is not None
        assert opstate.ocr_state(s) == {"running": 1, "stale": 1, "slots": 2, "slots_busy": 1}
        with workspace.job(s, "k1") as again:
            assert again is None  # asking the state took no lock: the job is still exclusive
    assert opstate.ocr_state(s)["running"] == 0


def test_doctor_checks_tesseract_and_its_models():
    from worker.ocr import tesseract

    status, detail, fix = tesseract.health("fra")
    assert status == "ok" and tesseract.version() in detail and fix is None
    status, detail, fix = tesseract.health("fra+zzz")
    assert status == "fail" and "zzz" in detail and fix == "apt-get install tesseract-ocr-zzz"
