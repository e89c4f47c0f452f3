"""Periodic jobs: one run per due time across consumers, catch-up once after downtime, failures recorded."""

import datetime as dt
import threading

import time_machine

from models import JobRun, PeriodicJob
from worker import periodic
from worker.periodic import JobSpec

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _spec(calls, interval=dt.timedelta(minutes=10), fail=False, **kw):
    def run(ctx):
        calls.append(ctx.started_at)
        ctx.state["runs"] = ctx.state.get("runs", 0) + 1
        if fail:
            raise RuntimeError("upstream down\nDETAIL: Key (user_id)=(alice) already exists")
        return {"n": len(calls)}

    return {"job": JobSpec("job", interval, run, **kw)}


def test_new_job_runs_at_first_start_then_on_interval(database, settings):
    calls = []
    specs = _spec(calls)
    with time_machine.travel(T0, tick=False) as clock:
        periodic.sync_jobs(specs)
        assert periodic.due_jobs(specs) == ["job"]
        assert periodic.run_job(specs["job"], settings).ran
        assert not periodic.run_job(specs["job"], settings).ran  # not due again yet
        clock.shift(dt.timedelta(minutes=9))
        assert periodic.due_jobs(specs) == []
        clock.shift(dt.timedelta(minutes=1))
        assert periodic.run_job(specs["job"], settings).ok
    assert len(calls) == 2
    row = PeriodicJob.get(PeriodicJob.name == "job")
    assert row.state == {"runs": 2} and row.last_error is None
    assert JobRun.select().where(JobRun.ok).count() == 2


def test_missed_runs_during_downtime_run_once(database, settings):
    calls = []
    specs = _spec(calls)
    with time_machine.travel(T0, tick=False) as clock:
        periodic.sync_jobs(specs)
        periodic.run_job(specs["job"], settings)
        clock.shift(dt.timedelta(days=3))  # consumer down for 3 days: 432 runs missed
        outcomes = [periodic.run_job(specs["job"], settings) for _ in range(5)]
    assert [o.ran for o in outcomes] == [True, False, False, False, False]
    assert len(calls) == 2
    assert PeriodicJob.get().next_due_at == T0 + dt.timedelta(days=3, minutes=10)


def test_concurrent_consumers_run_it_once(database, settings):
    calls = []
    specs = _spec(calls)
    periodic.sync_jobs(specs)
    barrier = threading.Barrier(8)
    results = []

    def consumer():
        barrier.wait()
        results.append(periodic.run_job(specs["job"], settings).ran)
        database.close()

    threads = [threading.Thread(target=consumer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert len(calls) == 1


def test_failure_is_recorded_without_personal_data_and_retried_with_backoff(database, settings):
    calls = []
    specs = _spec(calls, fail=True, retry_after=dt.timedelta(minutes=1))
    with time_machine.travel(T0, tick=False) as clock:
        periodic.sync_jobs(specs)
        outcome = periodic.run_job(specs["job"], settings)
        assert outcome.ran and not outcome.ok
        row = PeriodicJob.get()
        assert row.last_error == "RuntimeError: upstream down"  # the DETAIL line (row values) is dropped
        assert row.next_due_at == T0 + dt.timedelta(minutes=1) and row.consecutive_failures == 1
        clock.shift(dt.timedelta(minutes=1))
        periodic.run_job(specs["job"], settings)
        assert PeriodicJob.get().next_due_at == T0 + dt.timedelta(minutes=3)  # backoff doubled
    assert "alice" not in (JobRun.select().order_by(JobRun.id.desc()).get().error or "")


def test_a_dead_runner_is_taken_over_after_its_lease(database, settings):
    calls = []
    specs = _spec(calls, lease=dt.timedelta(minutes=30))
    with time_machine.travel(T0, tick=False) as clock:
        periodic.sync_jobs(specs)
        assert periodic.claim(specs["job"], T0, owner="host:1")  # ...and that process is SIGKILLed
        assert not periodic.run_job(specs["job"], settings).ran
        clock.shift(dt.timedelta(minutes=31))
        assert periodic.run_job(specs["job"], settings).ok
    assert len(calls) == 1
