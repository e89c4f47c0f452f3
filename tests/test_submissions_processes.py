"""Submissions through the real Procfile processes (huey_consumer + mediflux watch), SIGKILLed at random moments."""

from __future__ import annotations

import dataclasses
import json
import random
import threading
import time

import pytest

from models import Document, Submission
from models.submissions import FINAL
from tests.conftest import wait_for
from tests.test_ingest_processes import Proc, proc_env  # noqa: F401  (fixture)
from worker.api import DataAPI
from worker.config import load_settings
from worker.submissions import reasons


@pytest.fixture
def api(database, proc_env):
    api = DataAPI.from_settings(load_settings(proc_env))
    yield api
    api.close()


def good(i: int) -> bytes:
    text = f"Ordonnance du 12/03/2026\nDOLIPRANE 1000 mg comprimé\n1 comprimé matin et soir, patient {i}\n"
    return json.dumps({"schema": "mediflux.ocr/1", "pages": [{"text": text}]}).encode()


MIX = [
    (b"{not json", "a.json", "rejected", reasons.MALFORMED),
    (b"   ", "a.txt", "rejected", reasons.EMPTY),
    (b"<html>x</html>", "a.hocr", "rejected", reasons.UNSUPPORTED),
    (
        json.dumps({"schema": "mediflux.ocr/1", "user_id": "u-x", "pages": [{"text": "a"}]}).encode(),
        "a.json",
        "rejected",
        reasons.WRONG_USER,
    ),
]


def final(api, user, sid):
    return api.document_status(user, sid).final


def test_every_state_through_the_real_consumer_and_watcher(api, proc_env, home):
    worker, watcher = Proc("worker", proc_env, home), Proc("watcher", proc_env, home)
    worker.start()
    watcher.start()
    try:
        ok = api.submit_document("u-1", good(0), "ordonnance.json")
        bad = [(api.submit_document("u-1", data, name), state, code) for data, name, state, code in MIX]
        done = api.wait_for_document("u-1", ok.id, timeout=60)
        assert done.state == "analysed" and done.summary["document_type"] == "ordonnance"
        (home / "inbox" / "u-1" / "again.json").write_bytes(good(0))  # the same bytes dropped by hand
        (home / "inbox" / "u-1" / "big.txt").write_bytes(b"x" * (load_settings(proc_env).max_file_mb * 2**20 + 1))
        for sub, state, code in bad:
            got = api.wait_for_document("u-1", sub.id, timeout=60)
            assert (got.state, got.reason) == (state, code)
        wait_for(lambda: {s.state for s in api.list_submissions("u-1")} >= {"duplicate"}, 60, message="duplicate")
        wait_for(
            lambda: reasons.TOO_LARGE in {s.reason for s in api.list_submissions("u-1", state="rejected")},
            60,
            message="too large",
        )
        dup = api.list_submissions("u-1", state="duplicate")[0]
        assert dup.document_id == done.document_id and dup.filename == "again.json"
    finally:
        watcher.term()
        worker.term()


def _chaos(api, proc_env, home, n: int):
    rng = random.Random(18)
    worker, watcher = Proc("worker", proc_env, home), Proc("watcher", proc_env, home)
    worker.start()
    watcher.start()
    submitted: list[tuple[str, str, str | None]] = []  # (user, id, expected reason or None)
    stop = threading.Event()

    def killer():
        while not stop.is_set():
            time.sleep(rng.uniform(0.5, 2.5))
            victim = rng.choice([worker, watcher])
            victim.kill()
            time.sleep(rng.uniform(0.1, 1.0))
            victim.start()

    chaos = threading.Thread(target=killer)
    chaos.start()
    try:
        for i in range(n):
            user = f"u-{i % 7}"
            if i % 10 == 9:
                data, name, _, code = MIX[i % len(MIX)]
                data = data if code != reasons.MALFORMED else data + str(i).encode()
                sub = api.submit_document(user, data, name)
                submitted.append((user, sub.id, code))
            else:
                sub = api.submit_document(user, good(i), f"o-{i}.json")
                submitted.append((user, sub.id, None))
            if i % 25 == 0:  # the same bytes again: the first submission
                assert api.submit_document(user, good(i) if i % 10 != 9 else data, "again").id == sub.id
            time.sleep(rng.uniform(0, 0.03))
    finally:
        stop.set()
        chaos.join()
    # Both processes are running again (the killer restarts what it kills): every submission ends within 60 s.
    restarted = time.monotonic()
    wait_for(lambda: all(final(api, u, s) for u, s, _ in submitted), timeout=60, interval=0.5, message="all final")
    elapsed = time.monotonic() - restarted
    try:
        # none twice, no stray row (the same bad bytes again for a user are its first submission: one id)
        assert Submission.select().count() == len({sid for _, sid, _ in submitted})
        for user, sid, code in submitted:
            status = api.document_status(user, sid)
            if code is None:
                assert status.state == "analysed", status
                row = Document.get_by_id(status.document_id)
                assert row.analysis is not None and row.user.user_id == user
            else:
                assert (status.state, status.reason) == ("rejected", code)
        assert Document.select().count() == sum(1 for *_, c in submitted if c is None)
        assert Submission.select().where(Submission.state.not_in(FINAL)).count() == 0
    finally:
        watcher.term()
        worker.term()
    return elapsed


def test_sigkill_of_consumer_and_watcher_strands_no_submission(api, proc_env, home):
    _chaos(api, proc_env, home, 100)


@pytest.mark.slow
def test_sigkill_soak_1000_submissions(api, proc_env, home):
    _chaos(api, proc_env, home, 1000)


def test_analysis_tasks_lost_with_a_killed_consumer_are_rediscovered_at_its_restart(api, proc_env, home):
    """huey deletes a task when a consumer dequeues it, so a SIGKILLed consumer loses the analyses it had taken.
    Here the watcher ingests while no consumer runs and the queue is then emptied — exactly what such a loss leaves:
    documents stored, their analysis triggers gone. The analysis_backlog job ran just before (its next run is 10
    minutes away): before issue 18 the submissions stayed `ingested` that long; now the consumer's start finds them."""
    import datetime as dt

    from models import PeriodicJob
    from worker import periodic
    from worker.runtime import bootstrap
    from worker.schedule import PERIODIC_JOBS

    periodic.sync_jobs(PERIODIC_JOBS)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)
    PeriodicJob.update(next_due_at=later).execute()  # every job just ran: only the start-up rediscovery is left
    watcher = Proc("watcher", proc_env, home)
    watcher.start()
    try:  # live files, ingested inline by the watcher (its startup scan would hand them to the absent consumer)
        wait_for(lambda: "watching" in watcher.log_path.read_text(), timeout=30, message="the watcher watching")
        subs = [api.submit_document(f"u-{i % 3}", good(i), f"o-{i}.json") for i in range(20)]
        wait_for(
            lambda: all(api.document_status(f"u-{i % 3}", s.id).state == "ingested" for i, s in enumerate(subs)),
            timeout=60,
            message="ingested by the watcher",
        )
        huey = bootstrap(load_settings(proc_env)).huey
        assert huey.pending_count() > 0
        huey.flush()  # the triggers a killed consumer had taken
        worker = Proc("worker", proc_env, home)
        worker.start()
        started = time.monotonic()
        try:
            wait_for(
                lambda: all(api.document_status(f"u-{i % 3}", s.id).final for i, s in enumerate(subs)),
                timeout=60,
                message="analysed after the consumer's restart",
            )
            assert time.monotonic() - started < 60
            assert {api.document_status(f"u-{i % 3}", s.id).state for i, s in enumerate(subs)} == {"analysed"}
        finally:
            worker.term()
    finally:
        watcher.term()
