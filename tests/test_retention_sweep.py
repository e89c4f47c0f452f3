"""Expiry sweep: what expires goes in short chunks under a time budget, revalidatable cache rows stay a while,
space comes back through a bounded incremental vacuum, a SIGKILL or a long reader leaves things consistent."""

import datetime as dt
import signal
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest
import time_machine

from models import ApiCache, JobRun, Lease
from tests.conftest import ROOT, run_cli, wait_for
from worker import periodic
from worker.config import load_settings
from worker.queue import build_huey, stored_keys
from worker.retention import space, sweep
from worker.retention.policies import RetentionPolicies
from worker.schedule import PERIODIC_JOBS

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
POLICIES = RetentionPolicies()


def _cache(n, stale_until, *, etag=None, size=200, prefix="k"):
    rows = [
        {
            "source": "bdpm",
            "endpoint": "medicaments",
            "params_hash": f"{prefix}{i}-{uuid.uuid4().hex[:8]}",
            "params": {"cis": str(i)},
            "response": {"blob": "x" * size},
            "etag": etag,
            "stale_until": stale_until,
            "fetched_at": stale_until - dt.timedelta(days=1),
        }
        for i in range(n)
    ]
    for start in range(0, n, 200):
        ApiCache.insert_many(rows[start : start + 200]).execute()


def test_sweep_deletes_what_expired_and_keeps_revalidatable_entries(database, settings):
    _cache(23, T0 - dt.timedelta(hours=1), prefix="expired")
    _cache(5, T0 - dt.timedelta(days=2), etag='"v1"', prefix="revalidatable")
    _cache(4, T0 - dt.timedelta(days=8), etag='"v0"', prefix="tooold")
    _cache(6, T0 + dt.timedelta(hours=1), prefix="usable")
    Lease.create(name="old", holder="h", acquired_at=T0 - dt.timedelta(hours=2), expires_at=T0 - dt.timedelta(hours=1))
    Lease.create(name="live", holder="h", acquired_at=T0, expires_at=T0 + dt.timedelta(minutes=5))
    JobRun.create(job="x", started_at=T0 - dt.timedelta(days=31), ok=True)
    JobRun.create(job="x", started_at=T0 - dt.timedelta(days=1), ok=True)
    summary = sweep.sweep(T0, POLICIES, chunk=5)
    assert summary["api_cache"] == 27 and summary["leases"] == 1 and summary["job_runs"] == 1 and summary["complete"]
    left = {r.params_hash.split("-")[0].rstrip("0123456789") for r in ApiCache.select()}
    assert left == {"revalidatable", "usable"}
    assert [lease.name for lease in Lease.select()] == ["live"]
    assert JobRun.select().count() == 1


def test_periodic_sweep_runs_every_five_minutes_with_huey_leftovers(database, settings, env):
    huey = build_huey(load_settings(env))
    old_result = str(uuid.uuid4())
    huey.storage.put_data(old_result, b"{}")
    spec = PERIODIC_JOBS["sweep"]
    assert spec.interval == dt.timedelta(minutes=5)
    try:
        with time_machine.travel(T0, tick=False) as clock:
            _cache(3, T0 + dt.timedelta(minutes=3))
            periodic.sync_jobs(PERIODIC_JOBS)
            first = periodic.run_job(spec, settings, huey=huey)
            assert first.ok and first.summary["api_cache"] == 0 and first.summary["huey_keys"] == 0
            clock.shift(spec.interval)
            assert "sweep" in periodic.due_jobs(PERIODIC_JOBS)
            second = periodic.run_job(spec, settings, huey=huey)
        assert second.summary["api_cache"] == 3 and second.summary["huey_keys"] == 1
        assert old_result not in stored_keys(huey)
    finally:
        huey.storage.flush_results()


def test_time_budget_stops_between_chunks_and_the_next_run_resumes(database, settings):
    _cache(40, T0 - dt.timedelta(hours=1))
    spent = sweep.sweep(T0, POLICIES, chunk=10, deadline=time.monotonic())
    assert spent["api_cache"] == 0 and spent["complete"] is False
    calls = []
    partial = sweep.sweep(T0, POLICIES, chunk=10, on_chunk=calls.append)
    assert partial["api_cache"] == 40 and sum(calls) == 40 and max(calls) == 10 and partial["complete"]
    assert ApiCache.select().count() == 0


def test_incremental_vacuum_frees_the_pages_it_is_asked_for(database, settings):
    if not settings.database_is_sqlite:
        pytest.skip("incremental vacuum is SQLite's")
    _cache(300, T0 - dt.timedelta(hours=1), size=8000)
    sweep.sweep(T0, POLICIES, vacuum_pages=0)
    free = space.freelist_count(database)
    assert free > 400
    # The pitfall: through execute(), even draining the cursor, only one page goes.
    assert database.execute_sql("PRAGMA incremental_vacuum(100)").fetchall() == []
    assert space.freelist_count(database) == free - 1
    freed = space.incremental_vacuum(database, 100)
    assert freed == {
        "freelist_before": free - 1,
        "freelist_after": free - 101,
        "vacuumed_pages": 100,
        "vacuum_skipped": 0,
    }
    # A freelist beyond the bound (a mass deletion) is left for a manual VACUUM: never a long lock.
    skipped = space.incremental_vacuum(database, 100, max_freelist=free - 200)
    assert skipped["vacuum_skipped"] == 1 and space.freelist_count(database) == free - 101
    size_before = settings.sqlite_path.stat().st_size
    space.incremental_vacuum(database, 10_000)
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    assert space.freelist_count(database) == 0 and settings.sqlite_path.stat().st_size < size_before


def test_sweep_is_not_blocked_by_a_long_reader(database, settings):
    if not settings.database_is_sqlite:
        pytest.skip("SQLite WAL reader/writer behaviour")
    _cache(50, T0 - dt.timedelta(hours=1))
    reader = sqlite3.connect(str(settings.sqlite_path))
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM api_cache").fetchone()[0] == 50
    t0 = time.monotonic()
    summary = sweep.sweep(T0, POLICIES, chunk=10)
    assert summary["api_cache"] == 50 and time.monotonic() - t0 < 5
    assert reader.execute("SELECT count(*) FROM api_cache").fetchone()[0] == 50  # its snapshot is intact
    reader.rollback()
    assert reader.execute("SELECT count(*) FROM api_cache").fetchone()[0] == 0
    reader.close()


def test_sigkill_during_a_sweep_leaves_whole_chunks_and_the_next_run_finishes(database, settings, env):
    if not settings.database_is_sqlite:
        pytest.skip("the kill is timed by reading the SQLite file")
    now = dt.datetime.now(UTC)
    _cache(8000, now - dt.timedelta(hours=1), size=50, prefix="expired")
    _cache(50, now + dt.timedelta(days=1), size=50, prefix="usable")
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "sweep", "--batch-size", "20"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    reader = sqlite3.connect(str(settings.sqlite_path), timeout=30)
    try:
        wait_for(
            lambda: 50 < reader.execute("SELECT count(*) FROM api_cache").fetchone()[0] < 8050 - 200,
            timeout=60,
            interval=0.002,
            message="sweep midway",
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        left = reader.execute("SELECT count(*) FROM api_cache").fetchone()[0]
        assert reader.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        reader.close()
    assert 50 < left < 8050
    out = run_cli(env, "sweep", "--json")
    assert out.returncode == 0, out.stderr
    database.close()
    database.connect()
    assert {r.params_hash[:6] for r in ApiCache.select()} == {"usable"} and ApiCache.select().count() == 50


def test_chunks_shrink_when_transactions_are_slow_and_grow_back(database, settings):
    from worker.retention.chunks import delete_chunked
    from models import ApiCache as Cache

    _cache(400, T0 - dt.timedelta(hours=1))
    sizes = []

    def slow_then_fast(ids):
        if len(sizes) < 2:
            time.sleep(0.06)  # two slow chunks (60 ms > the 50 ms target): the size halves twice
        sizes.append(len(ids))

    stats = delete_chunked(
        Cache, Cache.id, Cache.stale_until < T0, chunk=100, before_delete=slow_then_fast, yield_ratio=0
    )
    assert sizes[:4] == [100, 50, 25, 50] and max(sizes) == 100 and stats.deleted == 400
