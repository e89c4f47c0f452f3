"""Fixtures of the cache tests (import them into a test module to use them)."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.recording import RecordingTriggers
from tests.upstreams.server import API_KEY, FakeUpstream
from worker.cache import ApiCacheClient
from worker.cache.stats import COUNTERS
from worker.config import load_settings


@pytest.fixture(autouse=True)
def _counts_stay_in_their_test() -> Iterator[None]:
    """Counts of one test's database never spill into the next one's."""
    COUNTERS.clear()
    yield
    COUNTERS.clear()


@pytest.fixture
def bdpm() -> Iterator[FakeUpstream]:
    with FakeUpstream("bdpm") as up:
        yield up


@pytest.fixture
def annuaire() -> Iterator[FakeUpstream]:
    with FakeUpstream("annuaire") as up:
        yield up


@pytest.fixture
def odisse() -> Iterator[FakeUpstream]:
    with FakeUpstream("odisse") as up:
        yield up


@pytest.fixture
def cache_env(env: dict[str, str], bdpm: FakeUpstream, annuaire: FakeUpstream, odisse: FakeUpstream) -> dict[str, str]:
    """The test's environment pointed at the three fake upstreams, with short limits."""
    return env | {
        "MEDIFLUX_BDPM_URL": bdpm.url,
        "MEDIFLUX_ANNUAIRE_URL": annuaire.url,
        "MEDIFLUX_ODISSE_URL": odisse.url,
        "MEDIFLUX_ANNUAIRE_API_KEY": API_KEY,
        "MEDIFLUX_CACHE_TIMEOUT": "1.5",
        "MEDIFLUX_CACHE_MAX_BODY_MB": "1",
        "MEDIFLUX_CACHE_RATE_BDPM": "500",
        "MEDIFLUX_CACHE_RATE_ODISSE": "500",
        "MEDIFLUX_ANNUAIRE_PAGE_CAP": "3",
    }


@pytest.fixture
def enqueued() -> list[tuple[str, str, dict]]:
    return []


@pytest.fixture
def cache(database, cache_env: dict[str, str], enqueued: list) -> Iterator[ApiCacheClient]:
    """A cache client on the test database; refreshes it would enqueue are collected in ``enqueued``."""
    triggers = RecordingTriggers()
    triggers.refreshed = enqueued
    client = ApiCacheClient(load_settings(cache_env), triggers)
    yield client
    COUNTERS.flush()
    client.close()
