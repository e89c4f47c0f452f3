"""Housekeeping: huey leftovers pruned only once they outlived an interval; old history pruned."""

import datetime as dt
import json
import uuid

import time_machine

from models import JobRun
from tests.conftest import run_cli
from worker import periodic
from worker.config import load_settings
from worker.queue import build_huey, stored_keys
from worker.schedule import PERIODIC_JOBS

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def test_leftover_results_and_locks_are_pruned_after_one_interval(database, env, queue_url):
    huey_settings = load_settings(env | {"MEDIFLUX_QUEUE_URL": queue_url})
    huey = build_huey(huey_settings)
    spec = PERIODIC_JOBS["housekeeping"]
    old_result, old_lock = str(uuid.uuid4()), f"{huey.name}.lock.import"
    huey.storage.put_data(old_result, b"{}")
    huey.storage.put_data(old_lock, b"1")
    huey.storage.put_data("r:keep-revocations", b"[]")
    try:
        with time_machine.travel(T0, tick=False) as clock:
            periodic.sync_jobs(PERIODIC_JOBS)
            first = periodic.run_job(spec, huey_settings, huey=huey)
            assert first.ok and first.summary["pruned_keys"] == 0
            new_result = str(uuid.uuid4())
            huey.storage.put_data(new_result, b"{}")  # appears between runs: too young to prune
            clock.shift(spec.interval)
            second = periodic.run_job(spec, huey_settings, huey=huey)
        assert second.ok and second.summary["pruned_keys"] == 2
        keys = set(stored_keys(huey))
        assert old_result not in keys and old_lock not in keys
        assert {new_result, "r:keep-revocations"} <= keys
    finally:
        huey.storage.flush_results()


def test_job_history_older_than_30_days_is_pruned(database, env):
    huey = build_huey(load_settings(env))
    for days in (40, 31, 2):
        JobRun.create(job="x", started_at=T0 - dt.timedelta(days=days), ok=True)
    with time_machine.travel(T0, tick=False):
        periodic.sync_jobs(PERIODIC_JOBS)
        outcome = periodic.run_job(PERIODIC_JOBS["housekeeping"], load_settings(env), huey=huey)
    assert outcome.summary["pruned_job_runs"] == 2
    assert JobRun.select().where(JobRun.job == "x").count() == 1


def test_status_json_on_an_empty_home_reports_every_table(env):
    assert run_cli(env, "migrate").returncode == 0
    out = run_cli(env, "status", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data["tables"]) >= {
        "users",
        "sessions",
        "api_cache",
        "documents",
        "care_pathways",
        "pathway_decisions",
        "periodic_jobs",
        "job_runs",
        "leases",
    }
    assert data["queue"] == {"pending": 0, "scheduled": 0, "pending_by_priority": {}}
    assert data["cache"]["bdpm"]["hit_ratio"] is None and data["processes"] == {"consumers": [], "watcher": False}
    assert data["schema"]["pending"] == []
    assert [j["name"] for j in data["periodic_jobs"]] == list(PERIODIC_JOBS)
    human = run_cli(env, "status")
    assert "housekeeping" in human.stdout and "pathway_decisions" in human.stdout
