"""The Procfile `worker` line: a real huey_consumer runs tasks and periodic jobs, stops cleanly on SIGTERM."""

import datetime as dt
import signal
import subprocess
import sys
import time

import pytest

from models import JobRun, PeriodicJob
from models.clock import utcnow
from tests.conftest import ROOT, procfile_command, wait_for
from worker.config import load_settings
from worker.queue import build_huey


@pytest.fixture
def consumer_env(env, queue_url):
    e = env | {"MEDIFLUX_QUEUE_URL": queue_url}
    yield e
    if queue_url.startswith("redis"):
        import redis

        conn = redis.Redis.from_url(queue_url)
        for key in conn.scan_iter(f"huey.*{e['MEDIFLUX_QUEUE_NAME']}*"):
            conn.delete(key)


def _start(env, home):
    log = open(home / "consumer.log", "w")
    proc = subprocess.Popen(procfile_command("worker"), env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return proc, log


def test_procfile_worker_runs_tasks_and_periodic_jobs_and_stops_on_sigterm(database, consumer_env, home):
    proc, log = _start(consumer_env, home)
    try:
        # At start the consumer catches up: housekeeping has never run, so it runs now.
        wait_for(
            lambda: JobRun.select().where(JobRun.job == "housekeeping", JobRun.ok).count() == 1,
            timeout=30,
            message="housekeeping run at consumer start",
        )
        # The app enqueues a task (a separate process); the consumer picks it up.
        PeriodicJob.update(next_due_at=utcnow() - dt.timedelta(hours=1)).execute()
        enqueue = subprocess.run(
            [sys.executable, "-c", "import tasks; tasks.connect().triggers.run_job('housekeeping')"],
            env=consumer_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert enqueue.returncode == 0, enqueue.stderr
        wait_for(
            lambda: JobRun.select().where(JobRun.job == "housekeeping").count() == 2,
            timeout=10,
            message="enqueued task to complete",
        )
        # Every job was made due above, so another job may have run since: read housekeeping's own run.
        run = JobRun.select().where(JobRun.job == "housekeeping").order_by(JobRun.id.desc()).get()
        assert run.ok and set(run.summary) >= {"pending", "scheduled", "pruned_keys"}
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=40)
        log.close()
    output = (home / "consumer.log").read_text()
    assert code == 0, output
    assert "Shutting down gracefully" in output and "Consumer exiting" in output


def test_two_consumers_run_a_due_periodic_job_once(database, consumer_env, home):
    procs = []
    try:
        for i in range(2):
            log = open(home / f"consumer{i}.log", "w")
            procs.append(
                (
                    subprocess.Popen(
                        procfile_command("worker"), env=consumer_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
                    ),
                    log,
                )
            )
        wait_for(
            lambda: JobRun.select().where(JobRun.job == "housekeeping").count() >= 1,
            timeout=30,
            message="housekeeping run",
        )
        # Both consumers tick at start (each worker thread enqueues a catch-up tick): let every tick drain.
        wait_for(
            lambda: all("consumer started" in (home / f"consumer{i}.log").read_text() for i in range(2)),
            timeout=30,
            message="both consumers started",
        )
        huey = build_huey(load_settings(consumer_env))
        wait_for(lambda: huey.pending_count() == 0, timeout=30, message="the start-up ticks to drain")
        time.sleep(1.0)
        assert JobRun.select().where(JobRun.job == "housekeeping").count() == 1
    finally:
        for proc, log in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=40)
            log.close()
