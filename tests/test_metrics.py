"""Prometheus endpoint: state read from the database at scrape time, events from the record_* helpers,
and the real consumer exporting it when MEDIFLUX_METRICS_PORT is set."""

from __future__ import annotations

import dataclasses
import datetime as dt
import signal
import socket
import subprocess

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from models import ApiCache, Document, JobRun
from models.clock import utcnow
from tests.conftest import ROOT, procfile_command, wait_for
from worker import metrics
from worker.queue import build_huey


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _samples(text: str) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_scrape_reads_the_database_and_counts_events(settings, database):
    now = utcnow()
    for i, status in enumerate(["ingested", "ingested", "failed"]):
        Document.create(original_filename="x", sha256=f"{i:064d}", format="txt", status=status)
    ApiCache.create(
        source="bdpm",
        endpoint="/m",
        params_hash="a",
        fetched_at=now - dt.timedelta(hours=2),
        fresh_until=now + dt.timedelta(hours=1),
        stale_until=now + dt.timedelta(hours=2),
    )
    ApiCache.create(
        source="bdpm",
        endpoint="/m",
        params_hash="b",
        fetched_at=now - dt.timedelta(hours=2),
        fresh_until=now - dt.timedelta(hours=1),
        stale_until=now + dt.timedelta(hours=2),
    )
    huey = build_huey(settings)
    noop = huey.task()(lambda: None)
    noop()
    noop()
    port = metrics.serve(dataclasses.replace(settings, metrics_port=_free_port()), huey=huey)
    assert port
    try:
        before = _samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
        metrics.record_ingested("txt", latency_seconds=0.7)
        metrics.record_quarantined("too_large")
        metrics.record_duplicate()
        metrics.record_cache("bdpm", "hit")
        metrics.record_cache("bdpm", "stale")
        metrics.record_upstream_error("annuaire")
        metrics.record_deleted("prune", "documents", 4)
        metrics.record_job("housekeeping", 0.2)
        with pytest.raises(ValueError):
            metrics.record_cache("bdpm", "maybe")
        after = _samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
    finally:
        metrics.stop(port)
    assert _value(after, "mediflux_documents", status="ingested") == 2
    assert _value(after, "mediflux_documents", status="failed") == 1
    assert _value(after, "mediflux_cache_entries", source="bdpm", state="fresh") == 1
    assert _value(after, "mediflux_cache_entries", source="bdpm", state="stale") == 1
    assert _value(after, "mediflux_queue_depth", state="pending") == 2

    def delta(name: str, **labels: str) -> float:
        return (_value(after, name, **labels) or 0) - (_value(before, name, **labels) or 0)

    assert delta("mediflux_documents_ingested_total", format="txt") == 1
    assert delta("mediflux_ingestion_latency_seconds_count") == 1
    assert delta("mediflux_ingestion_latency_seconds_bucket", le="1.0") == 1
    assert delta("mediflux_documents_quarantined_total", reason="too_large") == 1
    assert delta("mediflux_documents_duplicate_total") == 1
    assert delta("mediflux_cache_requests_total", source="bdpm", outcome="hit") == 1
    assert delta("mediflux_cache_requests_total", source="bdpm", outcome="stale") == 1
    assert delta("mediflux_cache_upstream_errors_total", source="annuaire") == 1
    assert delta("mediflux_deletions_total", kind="prune", category="documents") == 4
    assert delta("mediflux_job_duration_seconds_count", job="housekeeping") == 1


def test_metrics_are_off_by_default(settings):
    assert settings.metrics_port == 0 and metrics.serve(settings, build_huey(settings)) is None


def test_real_consumer_exports_metrics(env, database, home):
    port = _free_port()
    e = env | {"MEDIFLUX_METRICS_PORT": str(port)}
    log = open(home / "consumer.log", "w")
    proc = subprocess.Popen(procfile_command("worker"), env=e, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(
            lambda: JobRun.select().where(JobRun.job == "housekeeping").count() >= 1,
            timeout=30,
            message="housekeeping run at consumer start",
        )

        def scrape() -> dict | None:
            try:
                return _samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text)
            except httpx.HTTPError:
                return None

        samples = wait_for(scrape, timeout=20, message="the consumer's metrics endpoint")
        assert _value(samples, "mediflux_queue_depth", state="pending") is not None
        run = JobRun.select().where(JobRun.job == "housekeeping").get()
        assert _value(samples, "mediflux_job_last_duration_seconds", job="housekeeping") == run.duration_ms / 1000
        assert _value(samples, "mediflux_job_consecutive_failures", job="housekeeping") == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=40)
        log.close()


def _count(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def _total(name: str) -> float:
    return sum(s.value for family in metrics.REGISTRY.collect() for s in family.samples if s.name == name)


def test_event_metrics_are_recorded_where_the_events_happen(settings, database):
    """Ingestion, quarantine, duplicates, cache counters, sweeps and job runs feed the process's registry."""
    import dataclasses

    from tests.ingest_fixtures import one_per_format, variant
    from worker.cache.stats import COUNTERS
    from worker.ingest import ingest_paths
    from worker.periodic import JobSpec, run_job, sync_jobs
    from worker.retention.sweep import sweep

    s = dataclasses.replace(settings, ingest_grace_seconds=0.0)
    source = one_per_format()[".json"]
    before = (
        _count("mediflux_documents_ingested_total", format="json"),
        _count("mediflux_ingestion_latency_seconds_count"),
        _count("mediflux_documents_duplicate_total"),
        _total("mediflux_documents_quarantined_total"),
    )
    s.inbox.mkdir(parents=True, exist_ok=True)
    (s.inbox / "a.json").write_bytes(variant(source, 1))
    ingest_paths([str(s.inbox / "a.json")], s)
    (s.inbox / "again.json").write_bytes(variant(source, 1))
    (s.inbox / "empty.json").write_bytes(b"")
    report = ingest_paths([str(s.inbox / "again.json"), str(s.inbox / "empty.json")], s)
    assert report.duplicates == 1 and report.quarantined == 1, report.summary()
    after = (
        _count("mediflux_documents_ingested_total", format="json"),
        _count("mediflux_ingestion_latency_seconds_count"),
        _count("mediflux_documents_duplicate_total"),
        _total("mediflux_documents_quarantined_total"),
    )
    assert [a - b for a, b in zip(after, before)] == [1, 1, 1, 1]

    hits = _count("mediflux_cache_requests_total", source="odisse", outcome="hit")
    errors = _count("mediflux_cache_upstream_errors_total", source="odisse")
    COUNTERS.add("odisse", "upstream_errors")
    COUNTERS.read("odisse", "hits", 1, utcnow())
    COUNTERS.flush()  # the hit path only counts in memory; a flush (every few seconds) feeds Prometheus
    assert _count("mediflux_cache_requests_total", source="odisse", outcome="hit") == hits + 1
    assert _count("mediflux_cache_upstream_errors_total", source="odisse") == errors + 1

    ApiCache.create(
        source="odisse",
        endpoint="x",
        params_hash="h" * 64,
        response={"results": []},
        fetched_at=utcnow() - dt.timedelta(days=90),
        fresh_until=utcnow() - dt.timedelta(days=80),
        stale_until=utcnow() - dt.timedelta(days=60),
    )
    swept = _count("mediflux_deletions_total", kind="sweep", category="api_cache")
    sweep(utcnow(), s.retention)
    assert _count("mediflux_deletions_total", kind="sweep", category="api_cache") == swept + 1

    spec = JobSpec("metrics_probe", dt.timedelta(hours=1), lambda ctx: {})
    sync_jobs({spec.name: spec})
    runs = _count("mediflux_job_duration_seconds_count", job="metrics_probe")
    assert run_job(spec, settings).ok
    assert _count("mediflux_job_duration_seconds_count", job="metrics_probe") == runs + 1
