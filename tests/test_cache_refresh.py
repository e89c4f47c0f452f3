"""Background refresh: the periodic job keeps read entries fresh with conditional requests, leaves unread ones,
prunes dead rows; a stale read in the app enqueues tasks.cache.refresh_entry and a real consumer runs it."""

from __future__ import annotations

import datetime as _dt
import signal
import subprocess
import sys

import time_machine

from models import ApiCache
from models.clock import utcnow
from tests.conftest import ROOT, procfile_command, wait_for
from tests.upstreams.fixtures import (
    _counts_stay_in_their_test,
    annuaire,
    bdpm,
    cache,  # noqa: F401
    cache_env,
    enqueued,
    odisse,
)
from worker import cache as cache_module
from worker.cache import refresh
from worker.cache.stats import COUNTERS
from worker.config import load_settings
from worker.queue import build_huey
from worker.periodic import JobContext
from worker.schedule import PERIODIC_JOBS

T0 = _dt.datetime(2026, 3, 12, 9, 0, tzinfo=_dt.timezone.utc)
DOLI = {"denomination": {"contains_one_of": ["doliprane"]}}


def _ctx(now: _dt.datetime, settings) -> JobContext:
    import time

    return JobContext(name="cache_refresh", started_at=now, deadline=time.monotonic() + 120, settings=settings)


def test_job_refreshes_read_entries_before_they_go_stale(cache, bdpm, annuaire, odisse, cache_env):
    cache_module.configure(cache.settings)
    try:
        with time_machine.travel(T0, tick=False):
            cache.get("bdpm", "medicaments", DOLI)
            cache.get("annuaire", "Practitioner", {"family": "medecin"})
            cache.get("odisse", "covid-19-vaccination", {"limit": 3})
            cache.get("bdpm", "medicament", {"CIS": "69309629"})
            COUNTERS.flush()
        unread = ApiCache.get(ApiCache.endpoint == "medicament")
        ApiCache.update(last_read_at=T0 - _dt.timedelta(days=3)).where(ApiCache.id == unread.id).execute()
        before = {r.endpoint: r for r in ApiCache.select()}
        assert "cache_refresh" in PERIODIC_JOBS
        later = T0 + _dt.timedelta(hours=23, minutes=30)
        with time_machine.travel(later, tick=False):
            summary = PERIODIC_JOBS["cache_refresh"].run(_ctx(later, cache.settings))
        assert summary["updated"] == 1 and summary["not_modified"] == 1, summary  # bdpm new body, annuaire 304
        after = {r.endpoint: r for r in ApiCache.select()}
        for endpoint in ("medicaments", "Practitioner"):
            assert after[endpoint].fresh_until > later + _dt.timedelta(hours=20)
        assert after["Practitioner"].response == before["Practitioner"].response
        assert after["medicament"].fresh_until == before["medicament"].fresh_until  # not read lately: left alone
        assert after["covid-19-vaccination"].fresh_until == before["covid-19-vaccination"].fresh_until  # weekly
        assert annuaire.requests[-1][2].get("If-None-Match") == 'W/"v1"'
    finally:
        cache_module._default[0] = None


def test_prune_keeps_what_can_still_be_revalidated(cache, bdpm):
    with time_machine.travel(T0, tick=False):
        cache.get("bdpm", "medicaments", DOLI)
        bdpm.inject("500", "500", "500")
        try:
            cache.get("bdpm", "medicament", {"CIS": "1"})
        except cache_module.CacheUnavailable:
            pass
        COUNTERS.flush()
    with time_machine.travel(T0 + _dt.timedelta(days=20), tick=False):
        assert refresh.prune(utcnow()) == 1  # the failure-only row; the expired entry keeps its ETag
    assert [r.endpoint for r in ApiCache.select()] == ["medicaments"]
    with time_machine.travel(T0 + _dt.timedelta(days=60), tick=False):
        assert refresh.prune(utcnow()) == 1  # dead and unread for 30 days
    assert ApiCache.select().count() == 0


APP = """
import tasks
tasks.connect()
from worker import cache
r = cache.get("bdpm", "medicaments", {"denomination": {"contains_one_of": ["doliprane"]}})
print(r.meta.status)
"""


def test_stale_read_in_the_app_is_refreshed_by_the_consumer(cache, bdpm, cache_env, home):
    cache.get("bdpm", "medicaments", DOLI)
    row = ApiCache.get(ApiCache.endpoint == "medicaments")
    ApiCache.update(fresh_until=utcnow() - _dt.timedelta(minutes=1)).where(ApiCache.id == row.id).execute()
    app = subprocess.run(
        [sys.executable, "-c", APP], env=cache_env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert app.returncode == 0 and app.stdout.strip() == "stale", app.stderr[-800:]
    assert bdpm.total == 1  # the app answered from the cache without calling upstream
    assert build_huey(load_settings(cache_env)).pending_count() == 1  # tasks.cache.refresh_entry, enqueued
    assert ApiCache.get_by_id(row.id).last_read_at is not None  # the app's read counts were flushed at exit
    log = open(home / "consumer.log", "w")
    proc = subprocess.Popen(procfile_command("worker"), env=cache_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(
            lambda: ApiCache.get_by_id(row.id).fetched_at > row.fetched_at,
            timeout=40,
            message="consumer to refresh the stale entry",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=40)
        log.close()
    assert ApiCache.get_by_id(row.id).fresh_until > utcnow() + _dt.timedelta(hours=20)
    assert bdpm.total == 2


def test_job_backs_off_failing_entries_and_a_source_that_is_down(cache, odisse):
    cache_module._default[0] = cache
    try:
        with time_machine.travel(T0, tick=False):
            for offset in range(5):
                cache.get("odisse", "covid-19-vaccination", {"limit": 2, "offset": offset})
            COUNTERS.flush()
        assert odisse.total == 5
        odisse.inject(*["html"] * 100)  # a maintenance page: refused at once, not retried
        due = T0 + _dt.timedelta(days=6, hours=23)  # weekly TTL: all five near expiry, read within the TTL
        with time_machine.travel(due, tick=False):
            summary = refresh.run(_ctx(due, cache.settings))
        assert summary["failed"] == 3 and summary["deferred"] == 2  # down after 3 failures in a row
        calls = odisse.total
        with time_machine.travel(due + _dt.timedelta(minutes=2), tick=False):
            summary = refresh.run(_ctx(due, cache.settings))
        assert summary.get("failed", 0) == 2 and odisse.total == calls + 2  # only the 2 not yet tried
        odisse.faults.clear()
        with time_machine.travel(due + _dt.timedelta(minutes=11), tick=False):
            summary = refresh.run(_ctx(due, cache.settings))
        assert summary["updated"] == 5  # every backoff (5 min after one failure) has passed
    finally:
        cache_module._default[0] = None
