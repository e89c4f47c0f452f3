"""The access log through the data API (sync and async, SQLite and PostgreSQL): one trace per read, actor and
purpose, no data and no clear id, buffered writes that a clean close never loses, append-only, retention."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import subprocess
import sys
import threading

import peewee
import pytest
import time_machine

from models import AccessLog, User
from tests.conftest import ROOT, wait_for
from worker.api import AsyncDataAPI, DataAPI, InvalidInput, UnknownUser
from worker.config import ConfigError, load_settings
from worker.retention import prune
from worker.userkeys import user_key

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
PROFILE = {"mutuelle": "MGEN", "pathology": "mucoviscidose-ZQX", "location": {"department": "75"}}


def traces() -> list[dict]:
    return [
        {k: getattr(r, k) for k in ("at", "user_key", "actor", "purpose", "resource", "channel")}
        for r in AccessLog.select().order_by(AccessLog.id)
    ]


@pytest.fixture
def api(database, settings):
    api = DataAPI.from_settings(settings)
    yield api
    api.close()


def _seed(api, *user_ids):
    for user_id in user_ids:
        api.create_profile(user_id, PROFILE)


def test_each_sync_read_leaves_one_trace_with_actor_purpose_kind_key_and_utc_time(api, settings):
    _seed(api, "u-1@example.org", "u-2")
    pathway = api.store_pathway("u-1@example.org", "asthme", {"steps": ["gp"]})
    api.record_decision("u-1@example.org", pathway.id, "gp", {"ok": True})
    api.log_query("u-1@example.org", "pharmacie de garde")
    api.trail.flush()
    assert traces() == []  # writes (and their echoes of what the caller sent) are not reads
    with time_machine.travel(T0, tick=False):
        api.get_profile("u-1@example.org", actor="support:7", purpose="support")
        api.update_profile("u-1@example.org", {"preferences": {"lang": "fr"}}, actor="support:7", purpose="support")
        api.recent_queries("u-1@example.org", purpose="care")
        api.get_pathway("u-1@example.org", pathway.id)
        api.list_pathways("u-1@example.org")
        api.list_documents("u-1@example.org")
        found = api.find_users(mutuelle="MGEN", actor="batch", purpose="statistics")
        api.count_by_intent(T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=1))  # counts of all users
    assert {p.user_id for p in found} == {"u-1@example.org", "u-2"}
    api.trail.flush()
    one, two = user_key(settings, "u-1@example.org"), user_key(settings, "u-2")
    expected = [
        ("support:7", "support", "profile", one),
        ("support:7", "support", "profile", one),
        ("app", "care", "queries", one),
        ("app", "service", "pathways", one),
        ("app", "service", "pathways", one),
        ("app", "service", "documents", one),
        ("batch", "statistics", "profile", one),
        ("batch", "statistics", "profile", two),
    ]
    rows = traces()
    assert [(r["actor"], r["purpose"], r["resource"], r["user_key"]) for r in rows] == expected
    assert all(r["channel"] == "api" and r["at"] == T0 and r["at"].utcoffset() == dt.timedelta(0) for r in rows)


def test_refused_or_failed_reads_leave_no_trace_and_a_bad_label_reads_nothing(api):
    _seed(api, "u-1")
    with pytest.raises(UnknownUser):
        api.get_profile("u-nobody")
    for bad in ("", "two words", "x" * 65, "1 85 03 75 112 345 94".replace(" ", ""), 42):
        with pytest.raises(InvalidInput) as exc:
            api.get_profile("u-1", actor=bad)
        assert exc.value.field == "actor"
    with pytest.raises(InvalidInput, match="purpose"):
        api.list_documents("u-1", purpose="because I can")
    assert api.find_users(mutuelle="nobody") == []
    api.trail.flush()
    assert traces() == []


def test_defaults_come_from_the_constructor_then_the_environment_and_self_never_stores_the_id(database, env):
    settings = load_settings(env | {"MEDIFLUX_ACCESS_ACTOR": "app-backend", "MEDIFLUX_ACCESS_PURPOSE": "care"})
    api = DataAPI.from_settings(settings)
    other = DataAPI.from_settings(settings, actor="dr.martin@clinic", purpose="treatment")
    try:
        _seed(api, "u-42@x.org")
        api.get_profile("u-42@x.org")
        other.get_profile("u-42@x.org")
        api.get_profile("u-42@x.org", actor="u-42@x.org")  # the patient reading their own data
    finally:
        api.close()
        other.close()
    assert sorted((r["actor"], r["purpose"]) for r in traces()) == [  # each API object flushes its own
        ("app-backend", "care"),
        ("dr.martin@clinic", "treatment"),
        ("self", "care"),
    ]
    with pytest.raises(ConfigError, match="MEDIFLUX_ACCESS_ACTOR"):
        load_settings(env | {"MEDIFLUX_ACCESS_ACTOR": "Jeanne Dupont"})
    with pytest.raises(ConfigError, match="MEDIFLUX_ACCESS_FLUSH_SECONDS"):
        load_settings(env | {"MEDIFLUX_ACCESS_FLUSH_SECONDS": "soon"})
    with pytest.raises(InvalidInput, match="actor"):
        DataAPI.from_settings(settings, actor="not valid")


def test_the_log_holds_no_data_and_no_clear_id(api, database, settings):
    _seed(api, "jeanne.dupont@example.org")
    api.log_query("jeanne.dupont@example.org", "ordonnance mucoviscidose-ZQX")
    api.get_profile("jeanne.dupont@example.org")
    api.recent_queries("jeanne.dupont@example.org")
    api.trail.flush()
    columns = {c.name for c in database.get_columns("access_log")}
    assert columns == {"id", "at", "user_key", "actor", "purpose", "resource", "channel"}
    dumped = repr(database.execute_sql("SELECT * FROM access_log").fetchall())
    assert "jeanne" not in dumped and "dupont" not in dumped and "ZQX" not in dumped and "MGEN" not in dumped
    key = user_key(settings, "jeanne.dupont@example.org")
    assert len(key) == 64 and key in dumped
    assert key != user_key(dataclasses.replace(settings, home=settings.home / "other"), "jeanne.dupont@example.org")


def test_many_threaded_reads_then_a_clean_close_lose_no_trace(database, env):
    settings = load_settings(env | {"MEDIFLUX_ACCESS_FLUSH_SECONDS": "60"})  # only the close writes them
    api = DataAPI.from_settings(settings)
    _seed(api, *(f"u-{i}" for i in range(10)))
    per_thread, threads = 60, 8

    def reader(n: int) -> None:
        for i in range(per_thread):
            api.get_profile(f"u-{(n + i) % 10}")

    workers = [threading.Thread(target=reader, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert api.trail.writer.pending == per_thread * threads  # buffered, not yet written
    api.close()
    assert AccessLog.select().count() == per_thread * threads


def test_the_flush_thread_writes_on_its_interval_without_a_close(database, env):
    settings = load_settings(env | {"MEDIFLUX_ACCESS_FLUSH_SECONDS": "0.05"})
    api = DataAPI.from_settings(settings)
    try:
        _seed(api, "u-1")
        for _ in range(25):
            api.get_profile("u-1")
        wait_for(lambda: AccessLog.select().count() == 25, message="the interval flush")
    finally:
        api.close()


def test_synchronous_mode_writes_the_trace_before_the_read_returns(database, env):
    settings = load_settings(env | {"MEDIFLUX_ACCESS_FLUSH_SECONDS": "0"})
    api = DataAPI.from_settings(settings)
    try:
        _seed(api, "u-1")
        for n in range(1, 4):
            api.list_documents("u-1")
            assert AccessLog.select().count() == n
    finally:
        api.close()


async def _async_reads(settings, n: int) -> AsyncDataAPI:
    api = AsyncDataAPI.from_settings(settings)
    await api.create_profile("u-a", PROFILE)
    await api.create_profile("u-b", PROFILE)
    await asyncio.gather(*(api.get_profile("u-a" if i % 2 else "u-b", purpose="care") for i in range(n)))
    await api.list_pathways("u-a", actor="nurse:3")
    await api.recent_queries("u-b")
    await api.list_documents("u-a")
    await api.find_users(pathology=PROFILE["pathology"])
    with pytest.raises(InvalidInput):
        await api.get_pathway("u-a", 1, actor="bad actor")
    return api


def test_async_reads_are_traced_and_a_clean_close_loses_none(database, env):
    settings = load_settings(env | {"MEDIFLUX_ACCESS_FLUSH_SECONDS": "60"})

    async def main() -> None:
        api = await _async_reads(settings, 300)
        assert api.trail.writer.pending == 300 + 5
        await api.close()

    asyncio.run(main())
    rows = traces()
    assert len(rows) == 305
    kinds = [(r["actor"], r["purpose"], r["resource"]) for r in rows[300:]]
    assert kinds == [
        ("nurse:3", "service", "pathways"),
        ("app", "service", "queries"),
        ("app", "service", "documents"),
        ("app", "service", "profile"),
        ("app", "service", "profile"),
    ]
    assert {r["user_key"] for r in rows} == {user_key(settings, "u-a"), user_key(settings, "u-b")}


def test_async_synchronous_mode_writes_before_the_await_returns(database, env):
    settings = load_settings(env | {"MEDIFLUX_ACCESS_FLUSH_SECONDS": "0"})

    async def main() -> None:
        api = AsyncDataAPI.from_settings(settings)
        try:
            await api.create_profile("u-a", PROFILE)
            await api.get_profile("u-a")
            assert AccessLog.select().count() == 1
        finally:
            await api.close()

    asyncio.run(main())


def test_the_log_is_append_only(api, database):
    _seed(api, "u-1")
    api.get_profile("u-1")
    api.trail.flush()
    with pytest.raises(peewee.DatabaseError, match="append-only"), database.atomic():
        AccessLog.update(actor="someone-else").execute()
    assert [r["actor"] for r in traces()] == ["app"]


def _trace_at(settings, user_id: str, at: dt.datetime) -> None:
    AccessLog.create(
        at=at, user_key=user_key(settings, user_id), actor="app", purpose="service", resource="profile", channel="api"
    )


def test_retention_prunes_traces_older_than_six_months_except_a_held_users(database, settings):
    User.create(user_id="u-held", legal_hold=True)
    for user_id in ("u-1", "u-held"):
        _trace_at(settings, user_id, T0)
        _trace_at(settings, user_id, T0 + dt.timedelta(days=10))
    assert settings.retention.access_log == 183
    with time_machine.travel(T0 + dt.timedelta(days=183, hours=1), tick=False):
        dry = prune.prune(settings, dry_run=True, categories=("access_log",))
        assert (dry[0].rows, dry[0].held) == (1, 1) and AccessLog.select().count() == 4
        result = prune.prune(settings, categories=("access_log",))
    assert (result[0].rows, result[0].held) == (1, 1)
    left = {(r["user_key"], r["at"]) for r in traces()}
    assert left == {
        (user_key(settings, "u-1"), T0 + dt.timedelta(days=10)),
        (user_key(settings, "u-held"), T0),
        (user_key(settings, "u-held"), T0 + dt.timedelta(days=10)),
    }
    with time_machine.travel(T0 + dt.timedelta(days=200), tick=False):
        assert "access_log" in {r.category for r in prune.prune(settings)}  # the daily prune job's categories
    assert {r["user_key"] for r in traces()} == {user_key(settings, "u-held")}


def test_the_retention_of_traces_is_configurable(database, env):
    settings = load_settings(env | {"MEDIFLUX_RETENTION_DAYS": "access_log=30"})
    _trace_at(settings, "u-1", T0)
    _trace_at(settings, "u-1", T0 + dt.timedelta(days=25))
    with time_machine.travel(T0 + dt.timedelta(days=31), tick=False):
        assert prune.prune(settings, categories=("access_log",))[0].rows == 1
    assert len(traces()) == 1
    with pytest.raises(ConfigError, match="MEDIFLUX_RETENTION_DAYS"):
        load_settings(env | {"MEDIFLUX_RETENTION_DAYS": "access_log=0"})


def test_a_process_that_never_closes_the_api_still_writes_its_traces_at_exit(api, env):
    _seed(api, "u-1")
    script = (
        "from worker.api import DataAPI\n"
        "from worker.config import load_settings\n"
        "api = DataAPI.from_settings(load_settings())\n"
        "for _ in range(50):\n"
        "    api.get_profile('u-1')\n"
        "assert api.trail.writer.pending == 50\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env | {"MEDIFLUX_ACCESS_FLUSH_SECONDS": "60", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert AccessLog.select().count() == 50
