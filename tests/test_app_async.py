"""The async data API on its pwasyncio pool, SQLite and PostgreSQL: same behaviour, and the loop never blocks."""

import asyncio
import dataclasses
import time

import pytest

from models import QuerySession, User, is_postgres
from worker.api import AsyncDataAPI, InvalidProfile, PayloadTooLarge, UnknownUser, UserExists

SLOW_SQL = {
    # ~1 s of CPU inside SQLite (runs in aiosqlite's connection thread).
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4000000) SELECT count(*) FROM c",
    "postgresql": "SELECT pg_sleep(1.0)",
}


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def aapi(database, settings):
    return AsyncDataAPI.from_settings(settings)


def test_async_api_round_trip_and_typed_errors(aapi):
    async def scenario():
        try:
            await aapi.create_profile("u-1", {"mutuelle": "MGEN", "location": {"department": "2A"}})
            merged = await aapi.update_profile("u-1", {"pathology": "asthme", "location": {"postcode": "20000"}})
            assert merged.profile["location"] == {"department": "2A", "postcode": "20000"}
            assert [p.user_id for p in await aapi.find_users(department="2A", pathology="asthme")] == ["u-1"]
            with pytest.raises(UserExists):
                await aapi.create_profile("u-1", {})
            with pytest.raises(InvalidProfile):
                await aapi.update_profile("u-1", {"location": "Ajaccio"})
            with pytest.raises(PayloadTooLarge):
                await aapi.log_query("u-1", "q", "faq", {"big": "x" * 70_000})
            with pytest.raises(UnknownUser):
                await aapi.log_query("ghost", "q")
            await aapi.log_query("u-1", "où est ma pharmacie", "pharmacy", {"results": [{"name": "P1"}]})
            history = await aapi.recent_queries("u-1")
            assert [(q.intent, q.result) for q in history] == [("pharmacy", {"results": [{"name": "P1"}]})]
            pathway = await aapi.store_pathway("u-1", "asthme", {"steps": ["spirometrie", "pneumologue"]})
            await aapi.record_decision("u-1", pathway.id, "pneumologue", {"accepted": True})
            read = await aapi.get_pathway("u-1", pathway.id)
            assert [d.step for d in read.decisions] == ["pneumologue"]
            assert await aapi.list_documents("u-1") == []
            return (await aapi.get_profile("u-1")).profile
        finally:
            await aapi.close()

    profile = run(scenario())
    assert profile["location"]["postcode"] == "20000"
    assert User.get(User.user_id == "u-1").profile == profile  # the sync models see what the async pool wrote
    assert QuerySession.select().count() == 1


def test_concurrent_async_partial_updates_lose_nothing(aapi):
    async def scenario():
        try:
            await aapi.create_profile("u-1", {})
            await asyncio.gather(*(aapi.update_profile("u-1", {"flags": {f"k{n}": n}}) for n in range(60)))
            return (await aapi.get_profile("u-1")).profile["flags"]
        finally:
            await aapi.close()

    flags = run(scenario())
    assert flags == {f"k{n}": n for n in range(60)}


def test_concurrent_creates_of_one_user_give_one_profile_and_typed_errors(aapi):
    async def scenario():
        try:
            return await asyncio.gather(
                *(aapi.create_profile("same", {"n": n}) for n in range(10)), return_exceptions=True
            )
        finally:
            await aapi.close()

    outcomes = run(scenario())
    assert sorted(type(o).__name__ for o in outcomes) == ["Profile"] + ["UserExists"] * 9
    assert User.select().where(User.user_id == "same").count() == 1


def test_a_slow_query_does_not_stall_other_coroutines(aapi, database):
    slow_sql = SLOW_SQL["postgresql" if is_postgres(database) else "sqlite"]
    pool = aapi.backend.database

    async def scenario():
        await aapi.create_profile("u-1", {"mutuelle": "MGEN"})
        ticks: list[float] = []
        stop = asyncio.Event()

        async def ticker():
            while not stop.is_set():
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        async def slow():
            t0 = time.monotonic()
            await pool.aexecute_sql(slow_sql)
            await pool.aclose()
            return t0, time.monotonic()

        async def quick_reads():
            await asyncio.sleep(0.1)
            done = []
            for _ in range(5):
                await aapi.get_profile("u-1")
                done.append(time.monotonic())
            return done

        tick_task = asyncio.create_task(ticker())
        (t0, t1), reads = await asyncio.gather(slow(), quick_reads())
        stop.set()
        await tick_task
        await aapi.close()
        return t0, t1, reads, ticks

    t0, t1, reads, ticks = run(scenario())
    assert t1 - t0 >= 0.4, "the slow query was not slow enough to prove anything"
    during = [t for t in ticks if t0 <= t <= t1]
    gaps = [b - a for a, b in zip(during, during[1:])]
    assert len(during) >= (t1 - t0) / 0.05, f"ticker ran {len(during)} times in {t1 - t0:.2f}s"
    assert max(gaps) < 0.2, f"event loop stalled {max(gaps):.3f}s"
    assert all(t < t1 for t in reads), "reads on other pooled connections waited for the slow query"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pooled_sqlite_connections_have_the_worker_pragmas(aapi, settings):
    from worker.api import DataAPI

    # synchronous=FULL (2): data-API writes are durable when the call returns (MEDIFLUX_API_DURABLE=0: NORMAL, 1)
    expected = {"journal_mode": "wal", "busy_timeout": 15000, "foreign_keys": 1, "synchronous": 2}

    async def read_async():
        try:
            return {
                name: (await aapi.backend.database.aexecute_sql(f"PRAGMA {name}")).fetchone()[0] for name in expected
            }
        finally:
            await aapi.close()

    assert run(read_async()) == expected
    sync = DataAPI.from_settings(settings)
    with sync.backend.database.connection_context():
        assert {n: sync.backend.database.execute_sql(f"PRAGMA {n}").fetchone()[0] for n in expected} == expected
    sync.close()
    fast = DataAPI.from_settings(dataclasses.replace(settings, api_durable=False))
    with fast.backend.database.connection_context():
        assert fast.backend.database.execute_sql("PRAGMA synchronous").fetchone()[0] == 1
    fast.close()
    # Writes open BEGIN IMMEDIATE on both pools, as in the worker (no deadlocking lock upgrades).
    assert sync.backend.database._lock_type == aapi.backend.database._lock_type == "IMMEDIATE"
