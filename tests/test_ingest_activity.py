"""Analysis steps aside while this process ingests (worker.ingest.activity), within a bound."""

from __future__ import annotations

import threading
import time

from tests.conftest import wait_for
from worker.ingest import activity


def test_wait_until_idle_returns_at_once_when_nothing_is_ingesting():
    t0 = time.monotonic()
    assert activity.wait_until_idle(quiet=0.0, timeout=5)
    assert time.monotonic() - t0 < 1


def test_waits_for_running_and_queued_batches_then_a_quiet_period():
    release = threading.Event()
    started = threading.Barrier(3)

    def batch():
        with activity.ingesting():
            started.wait()
            release.wait(10)

    threads = [threading.Thread(target=batch) for _ in range(2)]
    for t in threads:
        t.start()
    started.wait()
    result = {}

    def analysis():
        result["idle"] = activity.wait_until_idle(quiet=0.2, timeout=10)
        result["at"] = time.monotonic()

    waiter = threading.Thread(target=analysis)
    looks = activity.looks()
    waiter.start()
    # A third look began: the first two found the batches in progress and it went back to waiting.
    wait_for(lambda: activity.looks() >= looks + 3, timeout=5, message="the waiter to look again")
    assert "idle" not in result  # two batches in progress: it waits
    released = time.monotonic()
    release.set()
    for t in threads:
        t.join()
    waiter.join(5)
    assert result["idle"] is True
    assert result["at"] - released >= 0.2  # and a quiet period after the last one


def test_never_waits_longer_than_its_bound():
    release = threading.Event()
    holding = threading.Event()

    def endless_batch():
        with activity.ingesting():
            holding.set()
            release.wait(10)

    t = threading.Thread(target=endless_batch)
    t.start()
    holding.wait(5)
    t0 = time.monotonic()
    try:
        assert activity.wait_until_idle(quiet=0.05, timeout=0.3) is False
        assert 0.3 <= time.monotonic() - t0 < 2
    finally:
        release.set()
        t.join()
