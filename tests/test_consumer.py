"""The Procfile `worker` line: a real huey_consumer runs tasks and periodic jobs, stops cleanly on SIGTERM."""

import datetime as dt
import subprocess

import pytest

import tasks
from models import JobRun, PeriodicJob
from models.clock import utcnow
from tests.conftest import ROOT, enqueue, procfile_command, stop_gracefully, wait_for
from worker.config import load_settings


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
        enqueue(consumer_env, "run_job('housekeeping')")
        wait_for(
            lambda: JobRun.select().where(JobRun.job == "housekeeping").count() == 2,
            timeout=10,
            message="enqueued task to complete",
        )
        # Every job was made due above, so another job may have run since: read housekeeping's own run.
        run = JobRun.select().where(JobRun.job == "housekeeping").order_by(JobRun.id.desc()).get()
        assert run.ok and set(run.summary) >= {"pending", "scheduled", "pruned_keys"}
    finally:
        code = stop_gracefully(proc, timeout=40)
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
            timeout=60,
            message="housekeeping run",
        )
        # Both consumers tick at start (each worker thread enqueues a catch-up tick), and each tick that found
        # housekeeping due enqueued a run.
        wait_for(
            lambda: all("consumer started" in (home / f"consumer{i}.log").read_text() for i in range(2)),
            timeout=60,
            message="both consumers started",
        )
    finally:
        # A graceful stop lets every task a worker has taken finish; what is still queued is drained below.
        codes = []
        for proc, log in procs:
            codes.append(stop_gracefully(proc))
            log.close()
    assert codes == [0, 0], [(home / f"consumer{i}.log").read_text()[-2000:] for i in range(2)]
    # Every tick and every run either ran in a consumer or is still in the queue: run the rest here, as a third
    # consumer would. The database claim, not timing, is what must keep housekeeping to one run.
    huey = tasks.connect(load_settings(consumer_env)).huey
    drained = 0
    while (task := huey.dequeue()) is not None:
        huey.execute(task)
        drained += 1
    assert huey.pending_count() == 0
    assert JobRun.select().where(JobRun.job == "housekeeping").count() == 1, f"drained {drained}"
