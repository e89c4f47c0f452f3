"""Prometheus metrics: event counters recorded where things happen, and state read at scrape time.

Off by default; ``MEDIFLUX_METRICS_PORT`` turns on an endpoint on 127.0.0.1 in the
consumer (tasks.ops). Two kinds of numbers:

- events (documents ingested, ingestion latency, cache hits/misses, deletions)
  are counted in the process where they happen, through the ``record_*`` helpers
  below, which ingestion, cache and retention code call;
- state (documents by status, cache health and hit ratio, queue depth, periodic
  job durations) is read from the database and the queue when Prometheus scrapes,
  by :class:`StateCollector` through :mod:`worker.opstate`, so it is right whichever
  process did the work and matches ``mediflux status``.

Labels are sources, formats, statuses and job names: never ids or personal data.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import peewee
from huey import Huey
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from models import db
from worker import opstate
from worker.config import Settings

log = logging.getLogger("mediflux.metrics")

REGISTRY = CollectorRegistry(auto_describe=True)

DOCUMENTS_INGESTED = Counter(
    "mediflux_documents_ingested", "Documents stored from the inbox", ["format"], registry=REGISTRY
)
DOCUMENTS_QUARANTINED = Counter(
    "mediflux_documents_quarantined", "Inbox files moved to quarantine", ["reason"], registry=REGISTRY
)
DOCUMENTS_DUPLICATE = Counter(
    "mediflux_documents_duplicate", "Inbox files whose content was already stored", registry=REGISTRY
)
INGESTION_LATENCY = Histogram(
    "mediflux_ingestion_latency_seconds",
    "File landed in the inbox → document stored",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900),
    registry=REGISTRY,
)
CACHE_REQUESTS = Counter(
    "mediflux_cache_requests", "Cache reads by outcome (hit, miss, stale)", ["source", "outcome"], registry=REGISTRY
)
CACHE_UPSTREAM_ERRORS = Counter(
    "mediflux_cache_upstream_errors", "Failed upstream calls", ["source"], registry=REGISTRY
)
DELETIONS = Counter(
    "mediflux_deletions",
    "Rows or files deleted by expiry sweeps and retention pruning",
    ["kind", "category"],
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "mediflux_job_duration_seconds",
    "Periodic job run durations seen by this process",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300),
    registry=REGISTRY,
)
OCR_PAGES = Counter(
    "mediflux_ocr_pages", "Pages read by the OCR stage, by source (ocr, text_layer)", ["source"], registry=REGISTRY
)
OCR_DOCUMENT_SECONDS = Histogram(
    "mediflux_ocr_document_seconds",
    "One image or PDF through the OCR child (all its pages)",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
    registry=REGISTRY,
)

CACHE_OUTCOMES = ("hit", "miss", "stale")
DELETION_KINDS = ("sweep", "prune", "erase")


def record_ingested(fmt: str, latency_seconds: float | None = None) -> None:
    """One document stored (``fmt``: the ingestion format); latency from landing to stored."""
    DOCUMENTS_INGESTED.labels(format=fmt).inc()
    if latency_seconds is not None and latency_seconds >= 0:
        INGESTION_LATENCY.observe(latency_seconds)


def record_ocr(sources: list[str], seconds: float) -> None:
    """One document OCRed: each page's source (``ocr`` or ``text_layer``) and the child's total time."""
    for source in sources:
        OCR_PAGES.labels(source=source).inc()
    OCR_DOCUMENT_SECONDS.observe(seconds)


def record_quarantined(reason: str) -> None:
    """One file quarantined; ``reason`` is a short fixed code (e.g. ``too_large``), never a message."""
    DOCUMENTS_QUARANTINED.labels(reason=reason).inc()


def record_duplicate() -> None:
    DOCUMENTS_DUPLICATE.inc()


_CACHE_CHILDREN: dict[tuple[str, str], Any] = {}


def record_cache(source: str, outcome: str, count: int = 1) -> None:
    """``count`` cache reads: ``outcome`` is hit, miss or stale (stale served while refreshing or upstream down).

    The labelled child is looked up once per (source, outcome): ``labels()`` costs several times the increment.
    """
    child = _CACHE_CHILDREN.get((source, outcome))
    if child is None:
        if outcome not in CACHE_OUTCOMES:
            raise ValueError(f"cache outcome must be one of {CACHE_OUTCOMES}, got {outcome!r}")
        child = _CACHE_CHILDREN.setdefault((source, outcome), CACHE_REQUESTS.labels(source=source, outcome=outcome))
    child.inc(count)


def record_upstream_error(source: str, count: int = 1) -> None:
    CACHE_UPSTREAM_ERRORS.labels(source=source).inc(count)


def record_deleted(kind: str, category: str, count: int) -> None:
    """``count`` deletions by a sweep, a retention prune or an erasure, per category (table or file kind)."""
    if kind not in DELETION_KINDS:
        raise ValueError(f"deletion kind must be one of {DELETION_KINDS}, got {kind!r}")
    if count > 0:
        DELETIONS.labels(kind=kind, category=category).inc(count)


def record_job(job: str, seconds: float) -> None:
    JOB_DURATION.labels(job=job).observe(seconds)


class StateCollector(Collector):
    """Numbers read from the database and queue at scrape time (counts only), through :mod:`worker.opstate`:
    the same as ``mediflux status``, the dashboard and the doctor."""

    def __init__(self, huey: Huey | None, specs: Mapping[str, opstate.JobSpecLike] | None = None) -> None:
        self.huey = huey
        self.specs = specs

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration: do not query the database then

    def collect(self) -> Iterator[Metric]:
        try:
            with db.connection_context():
                yield from self._database_metrics()
        except peewee.PeeweeException as exc:
            log.warning("metrics: database unavailable (%s)", type(exc).__name__)
        if self.huey is not None:
            yield from self._queue_metrics(self.huey)

    def _database_metrics(self) -> Iterator[Metric]:
        docs = GaugeMetricFamily("mediflux_documents", "Stored documents by status", labels=["status"])
        for status, n in opstate.documents_by_status().items():
            docs.add_metric([status], n)
        yield docs
        yield from _cache_metrics(opstate.cache_health())
        yield from _job_metrics(opstate.periodic_jobs(self.specs))

    def _queue_metrics(self, huey: Huey) -> Iterator[Metric]:
        depth = GaugeMetricFamily("mediflux_queue_depth", "Tasks waiting in the queue", labels=["state"])
        by_priority = GaugeMetricFamily(
            "mediflux_queue_pending_by_priority", "Pending tasks per priority", labels=["priority"]
        )
        try:
            queue = opstate.queue_state(huey)
        except Exception as exc:  # noqa: BLE001 — a down queue must not break the scrape
            log.warning("metrics: queue unavailable (%s)", type(exc).__name__)
            return
        depth.add_metric(["pending"], queue["pending"])
        depth.add_metric(["scheduled"], queue["scheduled"])
        yield depth
        if queue["pending_by_priority"] is not None:
            for priority, n in queue["pending_by_priority"].items():
                by_priority.add_metric([str(priority)], n)
            yield by_priority


def _cache_metrics(health: dict[str, dict[str, Any]]) -> Iterator[Metric]:
    """Cache health per source; ``mediflux_cache_events_total`` are every process's counters as flushed to
    ``api_cache_stats`` (``mediflux_cache_requests_total`` counts this process's reads only)."""
    entries = GaugeMetricFamily("mediflux_cache_entries", "Cache entries by freshness", labels=["source", "state"])
    negative = GaugeMetricFamily("mediflux_cache_negative_entries", "Cached negative answers", labels=["source"])
    failing = GaugeMetricFamily(
        "mediflux_cache_failing_entries", "Entries whose last upstream call failed", labels=["source"]
    )
    events = CounterMetricFamily(
        "mediflux_cache_events", "Cache counters of every process (api_cache_stats)", labels=["source", "event"]
    )
    ratio = GaugeMetricFamily(
        "mediflux_cache_hit_ratio", "(hits + stale served) / (hits + stale served + misses)", labels=["source"]
    )
    for source, h in health.items():
        for state in opstate.CACHE_STATES:
            entries.add_metric([source, state], h[state])
        negative.add_metric([source], h["negative"])
        failing.add_metric([source], h["failing"])
        for event in opstate.CACHE_COUNTERS:
            events.add_metric([source, event], h[event])
        if h["hit_ratio"] is not None:
            ratio.add_metric([source], h["hit_ratio"])
    yield from (entries, negative, failing, events, ratio)


def _job_metrics(jobs: list[dict[str, Any]]) -> Iterator[Metric]:
    duration = GaugeMetricFamily(
        "mediflux_job_last_duration_seconds", "Last run duration per periodic job", labels=["job"]
    )
    failures = GaugeMetricFamily(
        "mediflux_job_consecutive_failures", "Failed runs in a row per periodic job", labels=["job"]
    )
    success = GaugeMetricFamily(
        "mediflux_job_last_success_timestamp_seconds", "Unix time of the last successful run", labels=["job"]
    )
    for job in jobs:
        if job["last_duration_ms"] is not None:
            duration.add_metric([job["name"]], job["last_duration_ms"] / 1000)
        failures.add_metric([job["name"]], job["consecutive_failures"])
        if job["last_success"] is not None:
            success.add_metric([job["name"]], _dt.datetime.fromisoformat(job["last_success"]).timestamp())
    yield from (duration, failures, success)


_served: dict[int, tuple[Any, StateCollector]] = {}
_serve_lock = threading.Lock()


def serve(settings: Settings, huey: Huey, specs: Mapping[str, opstate.JobSpecLike] | None = None) -> int | None:
    """Start the endpoint on 127.0.0.1:``metrics_port`` once per process; None when off or the port is busy."""
    port = settings.metrics_port
    if not port:
        return None
    with _serve_lock:
        if port in _served:
            return port
        try:
            server, _thread = start_http_server(port, addr="127.0.0.1", registry=REGISTRY)
        except OSError as exc:
            log.warning("metrics: port %s unavailable (%s); this process exports none", port, type(exc).__name__)
            return None
        collector = StateCollector(huey, specs)
        REGISTRY.register(collector)
        _served[port] = (server, collector)
        log.info("metrics on http://127.0.0.1:%s/metrics", port)
        return port


def stop(port: int) -> None:
    """Stop an endpoint started by :func:`serve` (tests, embedding)."""
    with _serve_lock:
        entry = _served.pop(port, None)
        if entry is None:
            return
        server, collector = entry
        REGISTRY.unregister(collector)
        server.shutdown()
        server.server_close()
