"""Fault injection on real local upstreams: every fault is survived, never stored, and reported.

Each fault is a separate case: on a miss it is a typed error naming the reason; on a refresh it
never replaces the good entry (which keeps being served stale, flagged); transient faults
(5xx, 429, resets) are retried with backoff and Retry-After.
"""

from __future__ import annotations

import datetime as _dt
import time

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
from worker.cache import CacheUnavailable

T0 = _dt.datetime(2026, 3, 12, 9, 0, tzinfo=_dt.timezone.utc)
ASK = {
    "bdpm": ("medicaments", {"denomination": {"contains_one_of": ["doliprane"]}}),
    "annuaire": ("Practitioner", {"family": "medecin"}),
    "odisse": ("covid-19-vaccination", {"limit": 5}),
}
STALE_AT = {"bdpm": _dt.timedelta(days=2), "annuaire": _dt.timedelta(days=2), "odisse": _dt.timedelta(days=8)}
MISS_CASES = [
    ("bdpm", ["html"], "content type 'text/html'"),
    ("annuaire", ["truncated"], "invalid JSON"),
    ("odisse", ["huge"], "body too large (over the cap)"),
    ("annuaire", ["huge_declared"], "body too large (content-length"),
    ("odisse", ["gzip_bomb"], "body too large"),
    ("annuaire", ["outcome"], "OperationOutcome"),
    ("bdpm", ["graphql_errors"], "GraphQL errors"),
    ("odisse", ["503", "503", "503"], "HTTP 503"),
    ("annuaire", ["reset", "reset", "reset"], "connection error"),
    ("bdpm", ["timeout"], "timeout"),
    ("odisse", ["drip"], "deadline"),
]


def _ask(cache, source):
    endpoint, params = ASK[source]
    return cache.get(source, endpoint, params)


@pytest.mark.parametrize("source, faults, reason", MISS_CASES, ids=[c[1][0] for c in MISS_CASES])
def test_fault_is_a_typed_error_on_a_miss_and_never_replaces_a_good_entry(cache, request, source, faults, reason):
    up = request.getfixturevalue(source)
    endpoint, params = ASK[source]
    up.etag = None if source == "annuaire" else up.etag  # no 304 shortcut: the fault must be read
    with time_machine.travel(T0, tick=True):
        # 1. a miss: typed error naming the reason, within the deadline, nothing stored but the error
        up.inject(*faults)
        started = time.monotonic()
        with pytest.raises(CacheUnavailable) as info:
            cache.get(source, endpoint, params)
        assert reason in str(info.value)
        assert time.monotonic() - started < 4.0  # total deadline 1.5 s (+ one read-timeout slice at most)
        row = ApiCache.get(ApiCache.source == source)
        assert row.response is None and row.fetched_at is None and reason in row.last_error
        up.faults.clear()
        good = cache.get(source, endpoint, params)  # upstream back: a good entry
    assert not good.meta.negative
    before = ApiCache.get(ApiCache.source == source)
    # 2. a refresh of the stale entry meets the fault: the good entry stays and is served, flagged
    _refresh_meets_fault(cache, up, source, faults, reason, before, good)


def test_empty_answer_where_there_were_results_is_refused(cache, bdpm):
    endpoint, params = ASK["bdpm"]
    with time_machine.travel(T0, tick=False):
        good = cache.get("bdpm", endpoint, params)
    _refresh_meets_fault(cache, bdpm, "bdpm", ["empty"], "empty answer", ApiCache.get(), good)


def _refresh_meets_fault(cache, up, source, faults, reason, before, good):
    endpoint, params = ASK[source]
    with time_machine.travel(T0 + STALE_AT[source], tick=False):
        up.inject(*faults)
        assert cache.refresh(source, endpoint, params) == "failed"
        after = ApiCache.get(ApiCache.source == source)
        assert after.response == before.response and after.fetched_at == before.fetched_at
        assert reason in after.last_error and after.error_count == 1
        served = cache.get(source, endpoint, params)
    assert served.data == good.data and served.meta.status == "stale" and served.meta.stale_because_error


@pytest.mark.parametrize("fault", ["500", "503", "reset"])
def test_transient_faults_are_retried(cache, odisse, fault):
    odisse.inject(fault)
    result = _ask(cache, "odisse")
    assert len(result.data["results"]) == 5 and odisse.total == 2


def test_429_retry_after_is_honoured(cache, odisse):
    odisse.inject("429:1")
    started = time.monotonic()
    assert _ask(cache, "odisse").data["total_count"] == 25
    assert odisse.total == 2 and time.monotonic() - started >= 0.95


def test_429_retry_after_beyond_the_deadline_gives_up_at_once(cache, odisse):
    odisse.inject("429:30")
    started = time.monotonic()
    with pytest.raises(CacheUnavailable, match="HTTP 429"):
        _ask(cache, "odisse")
    assert odisse.total == 1 and time.monotonic() - started < 1


def test_empty_answer_is_accepted_when_nothing_better_is_known(cache, bdpm):
    bdpm.inject("empty")
    result = _ask(cache, "bdpm")
    assert result.data == {"medicaments": []} and result.meta.negative


def test_304_only_extends_freshness(cache, annuaire):
    with time_machine.travel(T0, tick=False):
        first = cache.get("annuaire", "Practitioner", {"family": "medecin"})
    body = ApiCache.get(ApiCache.source == "annuaire").response
    with time_machine.travel(T0 + _dt.timedelta(days=2), tick=False):
        assert cache.refresh("annuaire", "Practitioner", {"family": "medecin"}) == "not_modified"
        again = cache.get("annuaire", "Practitioner", {"family": "medecin"})
    _, _, headers = annuaire.requests[-1]
    assert headers.get("If-None-Match") == 'W/"v1"'
    assert again.meta.status == "fresh" and again.data == first.data
    row = ApiCache.get(ApiCache.source == "annuaire")
    assert row.response == body and row.fresh_until > T0 + _dt.timedelta(days=2, hours=20)


@pytest.mark.parametrize("fault, reason", [("drip", "deadline"), ("gzip_bomb", "body too large"), ("503", "HTTP 503")])
def test_async_path_has_the_same_limits(cache, odisse, fault, reason):
    import asyncio

    odisse.inject(*[fault] * 3)
    started = time.monotonic()
    with pytest.raises(CacheUnavailable) as info:
        asyncio.run(cache.aget("odisse", "covid-19-vaccination", {"limit": 5}))
    assert reason in str(info.value) and time.monotonic() - started < 4.0
    assert ApiCache.get(ApiCache.source == "odisse").response is None
