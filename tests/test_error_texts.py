"""Error texts name nobody: an undeletable file whose path holds a user id, a patient's name, a pathology and a
NIR goes through every error path (erasure, periodic jobs, the consumer's own logging, ingestion, analysis,
cache refresh) and none of it reaches a log line or a stored error."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import peewee
import pytest
from huey.contrib.stats import HueyEvent

from models import ErasureRequest, JobRun, PeriodicJob, User
from models.clock import utcnow
from tests.conftest import IN_CI, ROOT, enqueue, procfile_command, wait_for
from tests.upstreams.fixtures import (  # noqa: F401 — fixtures
    _counts_stay_in_their_test,
    annuaire,
    bdpm,
    cache,
    cache_env,
    enqueued,
    odisse,
)
from tests.upstreams.server import FakeUpstream
from worker import periodic
from worker.errors import safe_error
from worker.periodic import JobSpec
from worker.retention import erase
from worker.schedule import PERIODIC_JOBS

USER = "bob.durand@example.com"
NIR = "1 85 03 75 123 456 41"
PART = f"Compte rendu DURAND Bob VIH {NIR}.txt.part"
SECRETS = ("bob.durand", "DURAND", "Durand", "Compte rendu", "VIH", "185037512345641", "1 85 03 75 123 456", "123 456")


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


@contextlib.contextmanager
def undeletable(path: Path) -> Iterator[Path]:
    """A file nobody can remove, root included (immutable attribute), so an erasure fails on its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"Compte rendu : DURAND Bob, VIH, NIR {NIR}")
    done = shutil.which("chattr") and subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if not done or done.returncode != 0:
        message = "cannot make an undeletable file here (chattr +i needs root and e2fsprogs)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def _stored_errors(database: peewee.Database) -> str:
    """Every stored error text and run summary: erasure requests, periodic jobs, job runs, huey's task stats."""
    texts = [str(r.last_error) for r in ErasureRequest.select()]
    texts += [str(r.last_error) for r in PeriodicJob.select()]
    texts += [f"{r.error} {json.dumps(r.summary)}" for r in JobRun.select()]
    with database.bind_ctx([HueyEvent]):
        if HueyEvent.table_exists():
            texts += [str(e.error) for e in HueyEvent.select()]
    return "\n".join(texts)


# -- safe_error on the exceptions that can carry names ----------------------------------------------------------


def test_an_os_error_keeps_type_errno_and_strerror_only(tmp_path):
    folder = tmp_path / USER
    with pytest.raises(OSError) as info:
        (folder / PART).read_text()
    text = safe_error(info.value)
    assert text == "FileNotFoundError: [Errno 2] No such file or directory"
    with pytest.raises(OSError) as info:
        (tmp_path / PART).rename(tmp_path / "x" / PART)  # two file names
    assert not _leaks(safe_error(info.value)) and "Errno 2" in safe_error(info.value)
    assert safe_error(OSError(f"cannot open {folder}/{PART}")) == "OSError"


def test_other_errors_lose_quoted_values_urls_paths_ids_and_nirs():
    with pytest.raises(ValueError) as info:
        int("DURAND")
    assert safe_error(info.value) == "ValueError: invalid literal for int() with base 10: '…'"
    assert safe_error(KeyError("DURAND Bob")) == "KeyError: '…'"
    with pytest.raises(json.JSONDecodeError) as jinfo:
        json.loads('{"nom": "DURAND", ')
    assert not _leaks(safe_error(jinfo.value)) and safe_error(jinfo.value).startswith("JSONDecodeError")
    assert not _leaks(safe_error(RuntimeError(f"user {USER} file /srv/inbox/{USER}/x.txt NIR {NIR}")))
    assert not _leaks(safe_error(RuntimeError("NIR 185037512345641 refused")))
    assert safe_error(RuntimeError("line one\nDETAIL: Key (name)=(DURAND)")) == "RuntimeError: line one"


def test_an_http_error_keeps_the_host_not_the_path_or_query():
    with FakeUpstream("annuaire") as upstream:
        response = httpx.get(f"{upstream.origin}/missing/DURAND?name=DURAND&nir=185037512345641")
    with pytest.raises(httpx.HTTPStatusError) as info:
        response.raise_for_status()
    text = safe_error(info.value)
    assert text.startswith("HTTPStatusError") and not _leaks(text), text
    with pytest.raises(httpx.ConnectError) as cinfo:
        httpx.get("http://127.0.0.1:9/p?name=DURAND", timeout=2)
    assert not _leaks(safe_error(cinfo.value))


def test_a_postgresql_error_loses_the_value_it_quotes(pg_schema_url):
    from models.database import open_database

    pg = open_database(pg_schema_url, bind=False)
    with pytest.raises(peewee.DataError) as info:
        pg.execute_sql("SELECT CAST(%s AS integer)", ("DURAND 185037512345641",))
    pg.close()
    assert "DURAND" in str(info.value)  # the driver quotes the value …
    assert not _leaks(safe_error(info.value)) and safe_error(info.value).startswith("DataError")  # … we do not


# -- erasure and periodic jobs, in process ----------------------------------------------------------------------


def test_a_failed_erasure_names_nobody_in_logs_or_tables(database, settings, caplog):
    User.create(user_id=USER, profile={}, created_at=utcnow(), updated_at=utcnow())
    caplog.set_level(logging.INFO)  # (peewee logs SQL with its parameters at DEBUG: an operator switch, not ours)
    with undeletable(settings.inbox / USER / PART):
        with pytest.raises(PermissionError):
            erase.erase_user(settings, USER)
        request = ErasureRequest.get()
        assert request.state != "done" and request.last_error.startswith("PermissionError: [Errno 1]")
        # The backlog job retries it (and fails again), and a job that raises the error is recorded as failed.
        periodic.sync_jobs(PERIODIC_JOBS)
        assert periodic.run_job(PERIODIC_JOBS["erasure_backlog"], settings).ok
        probe = JobSpec("erase_probe", dt.timedelta(minutes=5), lambda ctx: erase.erase_user(ctx.settings, USER).counts)
        periodic.sync_jobs({"erase_probe": probe})
        outcome = periodic.run_job(probe, settings)
        assert not outcome.ran or not outcome.ok
        assert JobRun.get(JobRun.job == "erase_probe").error.startswith("PermissionError")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "erasure" in logged and "PermissionError" in logged
    assert not _leaks(logged), logged
    stored = _stored_errors(database)
    assert "PermissionError" in stored and not _leaks(stored), stored


# -- the consumer: huey's own logging, results and task stats ---------------------------------------------------


def test_the_consumer_logs_no_name_when_its_tasks_fail(database, env, home):
    """The consumer ingests a named file it cannot remove (an ``ingest_files`` task), analyses it, then fails to
    erase its user."""
    from models import Document

    consumer_env = env | {"MEDIFLUX_QUEUE_URL": f"sqlite:///{home / 'queue.db'}", "MEDIFLUX_INGEST_GRACE_SECONDS": "0"}
    User.create(user_id=USER, profile={}, created_at=utcnow(), updated_at=utcnow())
    settings_inbox = home / "inbox"
    log_path = home / "consumer.log"
    report = settings_inbox / USER / f"Compte rendu DURAND Bob VIH {NIR}.txt"
    with undeletable(settings_inbox / USER / PART), undeletable(report), open(log_path, "w") as log:
        proc = subprocess.Popen(
            procfile_command("worker"), env=consumer_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_for(lambda: "consumer started" in log_path.read_text(), timeout=30, message="consumer start")
            ingest = subprocess.run(
                [sys.executable, "-m", "worker.cli", "ingest", str(report)],
                env=consumer_env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert ingest.returncode == 0 and not _leaks(ingest.stdout + ingest.stderr), ingest.stderr
            wait_for(
                lambda: Document.select().where(Document.analysis.is_null(False)).exists(),
                timeout=60,
                message="the named file ingested and analysed by the consumer",
            )
            wait_for(lambda: "could not remove" in log_path.read_text(), timeout=30, message="the removal failure")
            enqueue(consumer_env, f"erase_user({USER!r})")
            wait_for(lambda: "Unhandled exception in task" in log_path.read_text(), timeout=30, message="task failure")
            with database.bind_ctx([HueyEvent]):
                wait_for(
                    lambda: HueyEvent.select().where(HueyEvent.signal == "error").exists(),
                    timeout=30,
                    message="huey's stats to record the error",
                )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=40)
    output = log_path.read_text()
    assert "PermissionError" in output, output
    assert not _leaks(output), output
    assert ErasureRequest.get().last_error.startswith("PermissionError")
    stored = _stored_errors(database)
    assert not _leaks(stored), stored
    assert PeriodicJob.select().count() > 0  # the consumer's catch-up ran its jobs (erasure_backlog among them)


# -- ingestion, analysis, cache refresh: the other error paths ---------------------------------------------------


def test_ingesting_an_undeletable_named_file_logs_no_name(database, settings, caplog):
    from models import Document
    from worker.analysis.runner import analyze_batch
    from worker.ingest import ingest_paths

    caplog.set_level(logging.INFO)
    name = f"Compte rendu DURAND Bob VIH {NIR}.txt"
    with undeletable(settings.inbox / USER / name) as path:
        report = ingest_paths([str(path)], settings)
        assert report.summary()["stored"] == 1  # stored, but it cannot leave the inbox
        assert not _leaks(json.dumps(report.summary()))
        (doc,) = Document.select()
        assert analyze_batch([doc.id]) in (0, 1)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "could not remove" in logged and "PermissionError" in logged, logged
    assert not _leaks(logged), logged
    analysis = json.dumps(Document.get().analysis or {})
    assert "Errno" not in analysis and "Traceback" not in analysis


def test_a_failing_cache_refresh_names_nobody(cache, annuaire, database, caplog):  # noqa: F811 — fixtures
    import time_machine

    from models import ApiCache
    from worker import cache as cache_module
    from worker.cache import refresh
    from worker.cache.stats import COUNTERS

    caplog.set_level(logging.INFO)
    params = {"family": "DURAND", "given": "Bob"}
    t0 = dt.datetime(2026, 3, 12, 9, 0, tzinfo=dt.UTC)
    cache_module.configure(cache.settings)
    try:
        with time_machine.travel(t0, tick=False):
            cache.get("annuaire", "Practitioner", params)
            COUNTERS.flush()
        later = t0 + dt.timedelta(hours=23, minutes=30)
        with time_machine.travel(later, tick=False):
            for fault in ("500", "html", "truncated", "reset"):
                annuaire.inject(*[fault] * 5)
                refresh.refresh_entry("annuaire", "Practitioner", params)
            annuaire.inject(*["500"] * 20)
            periodic.sync_jobs(PERIODIC_JOBS)
            assert periodic.run_job(PERIODIC_JOBS["cache_refresh"], cache.settings).ran
    finally:
        cache_module._default[0] = None
    errors = [r.last_error for r in ApiCache.select() if r.last_error]
    assert errors, "the failed refreshes are recorded"
    stored = "\n".join(errors) + _stored_errors(database)
    assert not _leaks(stored), stored
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not _leaks(logged), logged


def test_a_contained_task_keeps_huey_retries_counts_the_error_and_stores_only_the_safe_text(caplog):
    from huey import MemoryHuey
    from huey.exceptions import TaskException

    from tasks.guard import TaskFailed, contained

    huey = MemoryHuey("guard-test", immediate=True)
    calls = []

    @huey.task(retries=1)
    @contained
    def flaky(path: str) -> str:
        calls.append(path)
        if len(calls) == 1:
            open(path).close()  # FileNotFoundError naming the path
        return "ok"

    @huey.task()
    @contained
    def always_fails(path: str) -> None:
        open(path).close()

    @huey.task()
    @contained
    def cancels() -> None:
        from huey.exceptions import CancelExecution

        raise CancelExecution(retry=False)

    path = f"/srv/inbox/{USER}/{PART}"
    assert flaky(path).get() == "ok" and len(calls) == 2  # retried by huey as before
    assert huey._registry.task_to_string(flaky.task_class).endswith(".flaky")  # the name huey stores is kept
    with pytest.raises(TaskException) as info:
        always_fails(path).get()
    assert info.value.metadata["error"] == "TaskFailed('FileNotFoundError: [Errno 2] No such file or directory')"
    assert not _leaks(info.value.metadata["traceback"]) and "FileNotFoundError" in info.value.metadata["traceback"]
    assert not isinstance(info.value, TaskFailed)
    with pytest.raises(TaskException) as cancelled:
        cancels().get()
    assert "CancelExecution" in cancelled.value.metadata["error"]  # huey's control flow passes through
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "task always_fails failed: FileNotFoundError" in logged and not _leaks(logged)
