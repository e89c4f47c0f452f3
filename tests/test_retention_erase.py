"""Per-user erasure and export: every table and file, idempotent, resumable after SIGKILL, no trace in DB/WAL."""

import datetime as dt
import json
import signal
import sqlite3
import subprocess
import sys

import pytest

from models import ErasureRequest, QuerySession, User
from tests.conftest import ROOT, enqueue, run_cli, wait_for
from tests.retention_data import UTC, counts_of, make_user, raw_contains
from worker import periodic
from worker.retention import erase, export
from worker.userkeys import user_key
from worker.schedule import PERIODIC_JOBS
from worker.userids import InvalidUserId

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ZERO = {"users": 0, "sessions": 0, "documents": 0, "care_pathways": 0, "pathway_decisions": 0}


def _assert_no_files_left(settings, user_id):
    assert not (settings.inbox / user_id).exists()
    assert not (settings.home / "processed" / user_id).exists()
    quarantine = settings.home / "quarantine"
    assert not any(user_id in p.read_text() for p in quarantine.glob("*.error.json"))
    assert not [
        p
        for p in quarantine.iterdir()
        if not p.name.endswith(".error.json")
        and not (quarantine / (p.name + ".error.json")).exists()
        and "KEEP" not in p.read_text()
    ]


def test_erase_removes_rows_and_files_of_that_user_only(database, settings):
    gone = make_user(settings, "u-gone", at=T0, secret="ZQXGONE")
    kept = make_user(settings, "u-kept", at=T0, secret="KEEPME")
    before = export.export_user(settings, "u-gone")
    assert len(before["sessions"]) == 3 and before["documents"][0]["text"].startswith("Ordonnance ZQXGONE")
    assert before["care_pathways"][0]["decisions"][0]["decision"]["why"] == "ZQXGONE"
    assert len(before["cache_entries"]) == 1 and len(before["files"]["quarantine"]) == 1
    assert {f["path"] for f in before["files"]["inbox"]} == {"inbox/u-gone/scan.json"}

    result = erase.erase_user(settings, "u-gone", chunk=2)
    assert result.state == "done"
    assert result.counts["sessions"] == 3 and result.counts["api_cache"] == 1 and result.counts["files"] == 4
    assert counts_of(gone) == ZERO
    assert counts_of(kept) == {"users": 1, "sessions": 3, "documents": 1, "care_pathways": 1, "pathway_decisions": 1}
    _assert_no_files_left(settings, "u-gone")
    assert (settings.inbox / "u-kept" / "scan.json").exists()
    after = export.export_user(settings, "u-gone")
    assert (
        after["found"] is False
        and after["erased_at"]
        and after["files"] == {"inbox": [], "processed": [], "quarantine": []}
    )
    # Idempotent: a second run finds nothing and ends the same.
    assert erase.erase_user(settings, "u-gone").state == "done"
    row = ErasureRequest.get(ErasureRequest.user_key == user_key(settings, "u-gone"))
    assert row.state == "done" and "u-gone" not in json.dumps(row.counts)


def test_no_trace_in_sqlite_file_and_wal(database, settings):
    if not settings.database_is_sqlite:
        pytest.skip("raw-file check is for SQLite; PostgreSQL erasure is checked by row counts")
    make_user(settings, "u-trace-7731", at=T0, secret="XYZZYPLUGH", sessions=200)
    make_user(settings, "u-other", at=T0, secret="STAYSHERE")
    assert raw_contains(settings, "XYZZYPLUGH") and raw_contains(settings, "u-trace-7731")
    assert erase.erase_user(settings, "u-trace-7731").state == "done"
    assert raw_contains(settings, "XYZZYPLUGH") == []
    assert raw_contains(settings, "u-trace-7731") == []
    assert raw_contains(settings, "STAYSHERE")  # the grep does see what is still there


def _kill_midway(env, settings, user_id, total):
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "erase-user", user_id, "--batch-size", "25"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    reader = sqlite3.connect(str(settings.sqlite_path), timeout=30)
    try:
        wait_for(
            lambda: 0 < reader.execute("SELECT count(*) FROM sessions").fetchone()[0] < total - 200,
            timeout=60,
            interval=0.002,
            message="erasure to be midway through sessions",
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        left = reader.execute("SELECT count(*) FROM sessions").fetchone()[0]
    finally:
        reader.close()
    return left


def test_sigkill_midway_then_rerun_leaves_nothing(database, settings, env):
    if not settings.database_is_sqlite:
        pytest.skip("the kill is timed by reading the SQLite file; the backlog test covers PostgreSQL resumption")
    user = make_user(settings, "u-killed", at=T0, secret="KILLSECRET", sessions=6000)
    make_user(settings, "u-kept", at=T0, secret="KEEPTHIS")
    left = _kill_midway(env, settings, "u-killed", 6000)
    assert 0 < left < 6000
    database.close()
    database.connect()
    assert ErasureRequest.get(ErasureRequest.user_key == user_key(settings, "u-killed")).state == "running"
    assert not (settings.inbox / "u-killed").exists()  # files go first
    out = run_cli(env, "erase-user", "u-killed")
    assert out.returncode == 0, out.stderr
    assert counts_of(user) == ZERO
    assert raw_contains(settings, "KILLSECRET") == [] and raw_contains(settings, "u-killed") == []
    assert raw_contains(settings, "KEEPTHIS")
    assert "u-killed" not in out.stderr and "KILLSECRET" not in out.stderr


def test_backlog_job_finishes_an_interrupted_erasure_from_the_hash_alone(database, settings):
    user = make_user(settings, "u-resume", at=T0, secret="RESUMESECRET")
    # A crash after the request was recorded and the files deleted, before any row went.
    erase._start(settings, "u-resume", user_key(settings, "u-resume"))
    assert erase.find_user_id(settings, user_key(settings, "u-resume")) == "u-resume"
    periodic.sync_jobs(PERIODIC_JOBS)
    outcome = periodic.run_job(PERIODIC_JOBS["erasure_backlog"], settings)
    assert outcome.ok and outcome.summary == {"resumed": 1, "flushed": 0, "failed": 0}
    assert counts_of(user) == ZERO
    assert ErasureRequest.get().state == "done"


def test_long_reader_delays_the_wal_truncation_until_it_ends(database, settings):
    if not settings.database_is_sqlite:
        pytest.skip("WAL checkpoints are SQLite's")
    make_user(settings, "u-read", at=T0, secret="READERSECRET")
    reader = sqlite3.connect(str(settings.sqlite_path))
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM users").fetchone()[0] == 1  # holds the old snapshot
    result = erase.erase_user(settings, "u-read")
    assert result.state == "flush_pending"
    assert reader.execute("SELECT count(*) FROM users").fetchone()[0] == 1  # the reader still sees its snapshot
    assert User.select().count() == 0
    reader.rollback()
    reader.close()
    periodic.sync_jobs(PERIODIC_JOBS)
    assert periodic.run_job(PERIODIC_JOBS["erasure_backlog"], settings).summary["flushed"] == 1
    assert ErasureRequest.get().state == "done"
    assert raw_contains(settings, "READERSECRET") == [] and raw_contains(settings, "u-read") == []


def test_legal_hold_refuses_erasure(database, settings, env):
    user = make_user(settings, "u-held", at=T0, secret="HELD", legal_hold=True)
    with pytest.raises(erase.LegalHoldError):
        erase.erase_user(settings, "u-held")
    out = run_cli(env, "erase-user", "u-held")
    assert out.returncode == 1 and "legal hold" in out.stderr
    assert counts_of(user)["sessions"] == 3 and (settings.inbox / "u-held").exists()


@pytest.mark.parametrize(
    "bad", ["../u", "..", "a/b", "/etc", "a\\b", "u\x00x", "x" * 129, "é" * 65, ".hidden", " u", "u\n", "u x", "é"]
)
def test_user_ids_with_path_characters_are_refused_and_touch_nothing(database, settings, bad):
    make_user(settings, "u", at=T0, secret="NEIGHBOUR")
    sentinel = settings.home / "sentinel.txt"
    sentinel.write_text("still here")
    with pytest.raises(InvalidUserId) as info:
        erase.erase_user(settings, bad)
    assert bad.strip("./ \n") not in str(info.value) or len(bad.strip("./ \n")) < 2
    with pytest.raises(InvalidUserId):
        export.export_user(settings, bad)
    assert sentinel.exists() and (settings.inbox / "u" / "scan.json").exists()
    assert ErasureRequest.select().count() == 0 and QuerySession.select().count() == 3


def test_cli_refuses_path_user_ids_with_exit_2(env):
    for bad in ("../../etc", "a/b", "x" * 200):
        out = run_cli(env, "erase-user", bad)
        assert out.returncode == 2 and "Invalid value for 'USER_ID'" in out.stderr, out.stderr


def test_files_already_gone_are_fine(database, settings):
    user = make_user(settings, "u-gone-files", at=T0, secret="GONEFILES")
    for path in (settings.home / "processed" / "u-gone-files").iterdir():
        path.unlink()
    for path in (settings.home / "quarantine").iterdir():
        if not path.name.endswith(".error.json"):
            path.unlink()  # the data file vanished, its sidecar remains
    assert erase.erase_user(settings, "u-gone-files").state == "done"
    assert counts_of(user) == ZERO and list((settings.home / "quarantine").iterdir()) == []


def test_export_user_cli_writes_a_private_file(database, settings, env, tmp_path):
    make_user(settings, "u-export", at=T0, secret="EXPORTME")
    target = tmp_path / "export.json"
    out = run_cli(env, "export-user", "u-export", "--output", str(target))
    assert out.returncode == 0, out.stderr
    assert target.stat().st_mode & 0o777 == 0o600
    data = json.loads(target.read_text())
    assert data["format"] == "mediflux.export/1" and data["user_id"] == "u-export" and data["found"]
    assert data["profile"]["profile"]["mutuelle"] == "MGEN"
    assert {s["intent"] for s in data["sessions"]} == {"drug", "pharmacy"}
    assert data["documents"][0]["meta"]["processed_path"].startswith("processed/u-export/")
    assert data["files"]["processed"][0]["size"] > 0 and len(data["files"]["processed"][0]["sha256"]) == 64
    assert "EXPORTME" not in out.stderr
    stdout = run_cli(env, "export-user", "u-export")
    assert json.loads(stdout.stdout)["documents"] == data["documents"]


def test_erase_user_task_in_a_real_consumer(database, settings, env, home):
    from tests.conftest import procfile_command

    make_user(settings, "u-task", at=T0, secret="TASKSECRET")
    log = open(home / "consumer.log", "w")
    proc = subprocess.Popen(procfile_command("worker"), env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        enqueue(env, "erase_user('u-task')")
        wait_for(
            lambda: ErasureRequest.select().where(ErasureRequest.state == "done").count() == 1,
            timeout=30,
            message="erase_user task to finish in the consumer",
        )
        # huey's own stats (enabled in the consumer) recorded the task, without its arguments.
        wait_for(
            lambda: (
                database.execute_sql(
                    "SELECT count(*) FROM huey_event WHERE task = 'tasks.retention.erase_user'"
                ).fetchone()[0]
                >= 2
            ),
            timeout=10,
            message="huey stats events",
        )
        args = database.execute_sql("SELECT args FROM huey_event WHERE args IS NOT NULL").fetchall()
        assert args == []
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=40)
        log.close()
    assert User.select().count() == 0
    assert "u-task" not in (home / "consumer.log").read_text()
