"""Analysis matches medications through the API cache against a real local BDPM GraphQL server;
when BDPM fails with nothing cached, medications go pending and the analysis_backlog job retries them."""

from __future__ import annotations

import datetime as _dt
import hashlib
import time

import pytest
import time_machine

from models import ApiCache, Document
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
from worker.analysis import runner
from worker.periodic import JobContext
from worker.schedule import PERIODIC_JOBS

ORDO = "Dr Paul ROCHE\nRPPS 10003456786\nLe 12/03/2026\nORDONNANCE\nDOLIPRANE 500 mg comprimé\n1 cp 3 fois par jour\n"
T0 = _dt.datetime(2026, 3, 12, 9, 0, tzinfo=_dt.timezone.utc)


@pytest.fixture
def default_cache(cache):
    """The process-wide cache (what ``default_lookup`` uses) pointed at the fake upstreams."""
    cache_module._default[0] = cache
    yield cache
    cache_module._default[0] = None


def _doc(name: str) -> int:
    pages = [{"number": 1, "text": ORDO, "confidence": 0.9, "words": []}]
    return Document.create(
        original_filename=name, sha256=hashlib.sha256(name.encode()).hexdigest(), format="text", pages=pages, text=ORDO
    ).id


def test_medications_are_matched_through_the_cache(default_cache, bdpm):
    first, second = _doc("a"), _doc("b")
    analysis = runner.analyze_document(first)
    med = analysis["fields"]["medications"][0]["bdpm"]
    assert med["status"] == "matched" and med["cis"] == "69309629" and analysis["bdpm_status"] == "done"
    calls = bdpm.total
    assert calls >= 1 and ApiCache.select().where(ApiCache.source == "bdpm").count() == calls
    runner.analyze_document(second)
    assert bdpm.total == calls  # the second document is answered by the cache


def test_bdpm_down_then_back_is_retried_by_the_backlog_job(default_cache, bdpm):
    doc = _doc("c")
    with time_machine.travel(T0, tick=False):
        bdpm.inject(*["503"] * 30)
        analysis = runner.analyze_document(doc)
        assert analysis["bdpm_status"] == "pending"
        assert analysis["fields"]["medications"][0]["bdpm"]["status"] == "pending"
    bdpm.faults.clear()
    later = T0 + _dt.timedelta(minutes=16)
    with time_machine.travel(later, tick=False):
        summary = PERIODIC_JOBS["analysis_backlog"].run(
            JobContext(
                name="analysis_backlog",
                started_at=later,
                deadline=time.monotonic() + 60,
                settings=default_cache.settings,
            )
        )
    assert summary["bdpm_retried"] == 1
    analysis = Document.get_by_id(doc).analysis
    assert analysis["bdpm_status"] == "done" and analysis["fields"]["medications"][0]["bdpm"]["cis"] == "69309629"
