"""One database, four readers: `mediflux status --json`, the dashboard's data, the doctor and the metrics collector
report the same queue counts, periodic-job state, cache health and hit ratio (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import run_cli
from tests.dashboard_seed import seed
from worker import doctor, heartbeat, leases, opstate
from worker.dashboard import data
from worker.metrics import StateCollector
from worker.queue import PRIORITY_ANALYSIS, PRIORITY_INGEST, build_huey


@pytest.fixture
def huey(settings):
    h = build_huey(settings)
    yield h
    h.flush()


def _metrics(huey) -> dict[tuple, float]:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(StateCollector(huey))
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _metric(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_status_dashboard_doctor_and_metrics_report_the_same_state(env, settings, database, huey):
    expected = seed(settings, huey)
    ingest = huey.task(priority=PRIORITY_INGEST, name="ingest")(lambda: None)
    analyse = huey.task(priority=PRIORITY_ANALYSIS, name="analyse")(lambda: None)
    plain = huey.task(name="plain")(lambda: None)
    for task in (ingest, ingest, analyse, plain):
        task()
    later = plain.s()
    later.eta = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(hours=1)
    huey.add_schedule(later)  # what the consumer does with a task whose eta is ahead
    assert heartbeat.beat()
    assert leases.acquire(leases.watcher_lease(settings.inbox), "watcher-1", dt.timedelta(minutes=5))

    result = run_cli(env, "status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)

    # The status itself: the seeded numbers, with the one hit ratio.
    queue = status["queue"]
    assert (queue["pending"], queue["scheduled"]) == (4, 1)
    assert queue["pending_by_priority"] == {str(PRIORITY_INGEST): 2, "0": 1, str(PRIORITY_ANALYSIS): 1}
    cache = status["cache"]
    assert {s: cache[s]["hit_ratio"] for s in expected["hit_ratio"]} == expected["hit_ratio"]
    assert (cache["bdpm"]["fresh"], cache["bdpm"]["stale"], cache["bdpm"]["expired"]) == expected["bdpm"]
    assert (cache["annuaire"]["fresh"], cache["annuaire"]["stale"], cache["annuaire"]["expired"]) == expected[
        "annuaire"
    ]
    assert cache["annuaire"]["failing"] == 1 and cache["annuaire"]["last_error"] == "HTTPStatusError"
    assert cache["odisse"]["hit_ratio"] is None and cache["odisse"]["entries"] == 0
    jobs = {j["name"]: j for j in status["periodic_jobs"]}
    assert jobs["housekeeping"]["consecutive_failures"] == 2 and jobs["housekeeping"]["last_duration_ms"] == 120
    assert len(status["processes"]["consumers"]) == 1 and status["processes"]["watcher"] is True

    # The dashboard's data.
    overview = data.overview(settings, huey)
    assert overview["queue"] == {
        **queue,
        "pending_by_priority": {int(p): n for p, n in queue["pending_by_priority"].items()},
    }
    assert overview["consumers"] == status["processes"]["consumers"] and overview["watcher"] is True
    dashboard_cache = {row.pop("source"): row for row in data.cache()}
    assert dashboard_cache == {s: h for s, h in cache.items() if h["entries"] or h["misses"]}
    for job in data.jobs():
        same = {k: v for k, v in jobs[job["name"]].items() if k != "last_error"}
        assert {k: job[k] for k in same} == same
        assert job["last_error"] == opstate.error_type(jobs[job["name"]]["last_error"])

    # The metrics collector.
    samples = _metrics(huey)
    assert _metric(samples, "mediflux_queue_depth", state="pending") == queue["pending"]
    assert _metric(samples, "mediflux_queue_depth", state="scheduled") == queue["scheduled"]
    for priority, n in queue["pending_by_priority"].items():
        assert _metric(samples, "mediflux_queue_pending_by_priority", priority=priority) == n
    for source, health in dashboard_cache.items():
        assert _metric(samples, "mediflux_cache_hit_ratio", source=source) == health["hit_ratio"]
        for state in ("fresh", "stale", "expired"):
            assert _metric(samples, "mediflux_cache_entries", source=source, state=state) == health[state]
        assert _metric(samples, "mediflux_cache_failing_entries", source=source) == health["failing"]
        for event in ("hits", "stale_served", "misses", "upstream_errors"):
            assert _metric(samples, "mediflux_cache_events_total", source=source, event=event) == health[event]
    for name, job in jobs.items():
        assert _metric(samples, "mediflux_job_consecutive_failures", job=name) == job["consecutive_failures"]

    # The doctor, last: it rebinds the models to a database of its own (read-only on SQLite).
    checks = {c.name: c for c in doctor.run_checks(settings)}
    assert checks["queue"].detail == f"reachable: {queue['pending']} pending, {queue['scheduled']} scheduled"
    assert checks["consumer"].status == "ok" and checks["consumer"].detail.startswith("1 alive")
    assert checks["watcher"].status == "ok"
    assert checks["jobs"].status == "warn"
    assert "housekeeping failed 2 times in a row (OperationalError)" in checks["jobs"].detail
    assert checks["cache"].status == "warn" and "annuaire" in checks["cache"].fix
    for source, h in dashboard_cache.items():
        assert (
            f"{source}: {h['fresh']} fresh, {h['stale']} stale, {h['expired']} expired, {h['failing']} failing, "
            f"hit ratio {opstate.percent(h['hit_ratio'])} of {h['served'] + h['misses']} reads"
        ) in checks["cache"].detail
    assert "75.0 % of 80 reads" in checks["cache"].detail


def test_hit_ratio_counts_each_read_once():
    assert opstate.hit_ratio(0, 0, 0) is None
    assert opstate.hit_ratio(3, 1, 4) == 0.5  # stale reads are served from the cache
    assert opstate.hit_ratio(0, 0, 5) == 0.0
    assert opstate.hit_ratio(2, 0, 1) == 0.6667


def test_a_failing_job_and_an_empty_cache_in_the_doctor(settings, database):
    assert doctor.check_cache({}).status == "ok"
    assert doctor.check_jobs([]).detail == "no periodic job recorded yet"
    healthy = opstate.periodic_jobs({"x": _Spec(dt.timedelta(minutes=5))})
    assert healthy[0]["last_run"] is None and healthy[0]["consecutive_failures"] == 0
    assert doctor.check_jobs(healthy).status == "ok"


class _Spec:
    def __init__(self, interval: dt.timedelta) -> None:
        self.interval = interval
