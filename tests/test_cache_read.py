"""The read path against real local upstreams: miss → one fetch, hits, stale-while-revalidate, expiry,
negative caching, stale-if-error, typed errors, sync and async."""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging

import pytest
import time_machine

from models import ApiCache
from tests.upstreams.fixtures import (
    _counts_stay_in_their_test,
    annuaire,
    bdpm,
    cache,  # noqa: F401
    cache_env,
    enqueued,
    odisse,
)
from tests.upstreams.server import API_KEY
from worker.cache import CacheUnavailable, InvalidRequest, SourceNotConfigured, ApiCacheClient
from worker.config import load_settings

T0 = _dt.datetime(2026, 3, 12, 9, 0, tzinfo=_dt.timezone.utc)
DOLI = {"denomination": {"contains_one_of": ["doliprane"]}, "limit": 10}


def test_miss_fetches_once_then_hits(cache, bdpm):
    first = cache.get("bdpm", "medicaments", DOLI)
    assert [m["CIS"] for m in first.data["medicaments"]] == ["60234100", "69309629"]
    assert first.meta.status == "fresh" and not first.meta.from_cache and first.meta.source == "bdpm"
    again = cache.get("bdpm", "medicaments", {"limit": 10, "denomination": {"contains_one_of": ["doliprane"]}})
    assert again.data == first.data and again.meta.from_cache
    assert bdpm.calls["/graphql"] == 1


def test_annuaire_follows_next_links_with_the_key_and_stores_no_secret(cache, annuaire, caplog):
    caplog.set_level(logging.DEBUG)
    annuaire.inject("503")  # a retried failure: logged, without the key or the search terms
    result = cache.get("annuaire", "Practitioner", {"_count": 3})
    bundle = result.data
    assert bundle["resourceType"] == "Bundle" and bundle["total"] == 7
    assert [e["resource"]["id"] for e in bundle["entry"]] == [f"003-{i}" for i in range(1, 8)]
    assert annuaire.total == 4  # a 503, then pages of 3, 3, 1
    assert all(h.get("ESANTE-API-KEY") == API_KEY for _, _, h in annuaire.requests)
    row = ApiCache.get(ApiCache.source == "annuaire")
    assert row.etag == 'W/"v1"'
    stored = str(list(ApiCache.select().tuples()))
    assert API_KEY not in stored
    ours = [r.getMessage() for r in caplog.records if r.name.split(".")[0] in ("mediflux", "httpx", "httpcore")]
    assert not [m for m in ours if API_KEY in m or "_count" in m]


def test_annuaire_page_cap_keeps_the_next_link(cache, annuaire):
    bundle = cache.get("annuaire", "Practitioner", {"_count": 2}).data
    assert len(bundle["entry"]) == 6 and annuaire.total == 3  # cap = 3 pages
    assert [link["relation"] for link in bundle["link"]] == ["self", "next"]


def test_odisse_records_and_limits_checked_before_calling(cache, odisse):
    result = cache.get("odisse", "covid-19-vaccination", {"limit": 5, "offset": 20})
    assert result.data["total_count"] == 25 and len(result.data["results"]) == 5
    for bad in ({"limit": 101}, {"limit": 100, "offset": 9901}, {"offset": 9995}, {"limit": 0}, {"rows": 3}):
        with pytest.raises(InvalidRequest):
            cache.get("odisse", "covid-19-vaccination", bad)
    assert odisse.total == 1


def test_negative_caching_of_404_and_empty(cache, annuaire, bdpm):
    gone = cache.get("annuaire", "Practitioner/999")
    assert gone.data is None and gone.meta.negative
    assert cache.get("annuaire", "Practitioner/999").meta.from_cache and annuaire.total == 1
    none = cache.get("bdpm", "medicaments", {"denomination": {"contains_one_of": ["zzz"]}})
    assert none.data == {"medicaments": []} and none.meta.negative
    row = ApiCache.get(ApiCache.source == "bdpm")
    assert (row.fresh_until - row.fetched_at) <= _dt.timedelta(minutes=15)  # briefly, not a day


def test_stale_is_served_at_once_and_a_refresh_enqueued(cache, bdpm, enqueued):
    with time_machine.travel(T0, tick=False):
        cache.get("bdpm", "medicament", {"CIS": "60234100"})
    with time_machine.travel(T0 + _dt.timedelta(days=2), tick=False):
        stale = cache.get("bdpm", "medicament", {"CIS": "60234100"})
        cache.get("bdpm", "medicament", {"CIS": "60234100"})
    assert stale.meta.status == "stale" and not stale.meta.stale_because_error
    assert stale.meta.age_seconds == 2 * 86400
    assert bdpm.total == 1  # no synchronous call
    assert enqueued == [("bdpm", "medicament", {"CIS": "60234100"})]  # once, not per read


def test_refresh_failure_is_flagged_and_expired_data_is_not_served(cache, bdpm):
    with time_machine.travel(T0, tick=False):
        cache.get("bdpm", "medicament", {"CIS": "60234100"})
    with time_machine.travel(T0 + _dt.timedelta(days=2), tick=False):
        bdpm.inject("503", "503", "503")
        assert cache.refresh("bdpm", "medicament", {"CIS": "60234100"}) == "failed"
        stale = cache.get("bdpm", "medicament", {"CIS": "60234100"})
        assert stale.meta.status == "stale" and stale.meta.stale_because_error
    with time_machine.travel(T0 + _dt.timedelta(days=9), tick=False):  # past the 7-day stale bound
        bdpm.inject("503", "503", "503")
        with pytest.raises(CacheUnavailable) as info:
            cache.get("bdpm", "medicament", {"CIS": "60234100"})
        assert "HTTP 503" in str(info.value)
        fresh = cache.get("bdpm", "medicament", {"CIS": "60234100"})  # upstream back
        assert fresh.meta.status == "fresh" and not fresh.meta.from_cache


def test_no_data_and_upstream_down_is_a_typed_error(cache, odisse):
    odisse.inject("500", "500", "500")
    with pytest.raises(CacheUnavailable):
        cache.get("odisse", "covid-19-vaccination", {"limit": 3})
    assert odisse.total == 3  # retried with backoff, then gave up


def test_unconfigured_bdpm_is_a_clear_error(database, cache_env):
    env = {k: v for k, v in cache_env.items() if k != "MEDIFLUX_BDPM_URL"}
    client = ApiCacheClient(load_settings(env))
    with pytest.raises(SourceNotConfigured) as info:
        client.get("bdpm", "medicaments", DOLI)
    assert "MEDIFLUX_BDPM_URL" in str(info.value) and isinstance(info.value, CacheUnavailable)
    client.close()


def test_bad_requests_are_refused_before_any_call(cache, bdpm, annuaire):
    for source, endpoint, params in [
        ("bdpm", "drop_tables", {}),
        ("bdpm", "medicament", {}),
        ("bdpm", "medicaments", {"nom": "x"}),
        ("annuaire", "Patient", {}),
        ("annuaire", "Practitioner", {"api_key": "x"}),
        ("nope", "x", {}),
        ("annuaire", "Practitioner", {"name": object()}),
        ("odisse", "covid-19-vaccination", [("limit", 5)]),
    ]:
        with pytest.raises(InvalidRequest):
            cache.get(source, endpoint, params)
    assert bdpm.total == annuaire.total == 0


def test_async_get_shares_the_rules(cache, odisse):
    async def main():
        results = await asyncio.gather(*[cache.aget("odisse", "covid-19-vaccination", {"limit": 2}) for _ in range(10)])
        return results

    results = asyncio.run(main())
    assert {len(r.data["results"]) for r in results} == {2}
    assert odisse.total == 1
    hit = asyncio.run(cache.aget("odisse", "covid-19-vaccination", {"limit": 2}))
    assert hit.meta.from_cache and hit.meta.status == "fresh"
