"""The Procfile `worker` line: a real huey_consumer runs tasks and periodic jobs, stops cleanly on SIGTERM."""

import datetime as dt
import re
import signal
import subprocess

import pytest
from huey.contrib.stats import HueyEvent

from models import JobRun, PeriodicJob
from models.clock import utcnow
from tests.conftest import ROOT, enqueue, procfile_command, wait_for


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
        # Both consumers tick at start (each worker thread enqueues a catch-up tick), and each tick that found
        # housekeeping due enqueued a run: wait until every one of those attempts has finished.
        wait_for(
            lambda: all("consumer started" in (home / f"consumer{i}.log").read_text() for i in range(2)),
            timeout=30,
            message="both consumers started",
        )
        logs = [home / f"consumer{i}.log" for i in range(2)]
        wait_for(  # a loaded machine: every job due at a first start (bdpm_sync on an empty mirror too) runs here
            lambda: _every_attempt_finished(database, logs), timeout=90, message="every tick and the runs it enqueued"
        )
        assert JobRun.select().where(JobRun.job == "housekeeping").count() == 1
    finally:
        for proc, log in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=40)
            log.close()


TICK, RUN = "tasks.periodic.scheduler_tick", "tasks.periodic.run_periodic_job"
TERMINAL = ("complete", "error", "canceled", "expired", "revoked")


def _every_attempt_finished(database, logs) -> bool:
    """Every scheduler tick that started so far, and every job run enqueued by any of them, has finished.

    A tick can enqueue a duplicate run only if it read the job as due, i.e. started before the first run
    claimed it; huey logs "Executing <task>" (written at once) before that, so those ticks are in the logs
    by the time the first JobRun row exists. huey's task stats (huey_event, written by each consumer in
    batches, in signal order) hold a tick's "complete" only after the "enqueued" of every run it enqueued.
    """
    text = "".join(log.read_text() for log in logs)
    ticks = set(re.findall(rf"Executing {re.escape(TICK)}: ([0-9a-f-]+)", text))
    with database.bind_ctx([HueyEvent]):
        events = list(HueyEvent.select(HueyEvent.task_id, HueyEvent.task, HueyEvent.signal))
    done = {e.task_id for e in events if e.signal in TERMINAL}
    runs = {e.task_id for e in events if e.task == RUN and e.signal == "enqueued"}
    return bool(ticks) and ticks <= done and runs <= done
