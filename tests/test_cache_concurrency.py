"""Single-flight: 50 simultaneous reads of a missing key make ONE upstream call (50 threads; 5 processes x 10);
a lease holder SIGKILLed mid-fetch is taken over once its lease expires; the rate limit is shared."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from models import Lease, db
from tests.conftest import ROOT, wait_for
from tests.upstreams.fixtures import (
    _counts_stay_in_their_test,
    annuaire,
    bdpm,
    cache,  # noqa: F401
    cache_env,
    enqueued,
    odisse,
)
from worker.cache import ApiCacheClient, ratelimit
from worker.config import load_settings

ASK = ("medicaments", {"denomination": {"contains_one_of": ["doliprane"]}, "limit": 5})


def _in_threads(n: int, fn) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn()
        except Exception as exc:  # noqa: BLE001 — reported by the assertion below
            results[i] = exc
        finally:
            db.close()  # one connection per thread: give it back

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_fifty_threads_one_upstream_call(cache, bdpm):
    bdpm.delay = 0.5  # every reader arrives while the first call is in flight
    results = _in_threads(50, lambda: cache.get("bdpm", *ASK))
    assert all(not isinstance(r, Exception) for r in results), [r for r in results if isinstance(r, Exception)][:3]
    assert {r.data["medicaments"][0]["CIS"] for r in results} == {"60234100"}
    assert bdpm.calls["/graphql"] == 1


def test_failure_is_shared_not_retried_by_every_reader(cache, bdpm):
    bdpm.delay = 0.3
    bdpm.inject("graphql_errors")
    results = _in_threads(20, lambda: cache.get("bdpm", *ASK))
    assert all(isinstance(r, Exception) and "GraphQL errors" in str(r) for r in results)
    assert bdpm.calls["/graphql"] == 1


CHILD = """
import sys, threading, os, time
from worker.runtime import bootstrap
from worker import cache
from models import db
bootstrap()
gate = sys.argv[1]
open(gate + ".ready-%d" % os.getpid(), "w").close()
while not os.path.exists(gate):
    time.sleep(0.005)
out = []
def read():
    try:
        r = cache.get("bdpm", "medicaments", {"denomination": {"contains_one_of": ["doliprane"]}, "limit": 5})
        out.append(r.data["medicaments"][0]["CIS"])
    finally:
        db.close()
threads = [threading.Thread(target=read) for _ in range(int(sys.argv[2]))]
[t.start() for t in threads]
[t.join() for t in threads]
print(",".join(out))
"""


def test_fifty_readers_in_five_processes_one_upstream_call(cache_env, database, bdpm, home):
    bdpm.delay = 0.5
    gate = home / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(gate), "10"],
            env=cache_env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(5)
    ]
    wait_for(lambda: len(list(home.glob("go.ready-*"))) == 5, timeout=60, message="children at the gate")
    gate.touch()
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 5, [o[1][-500:] for o in outs]
    assert all(o[0].strip().split(",") == ["60234100"] * 10 for o in outs), [(o[0][-300:], o[1][-900:]) for o in outs]
    assert bdpm.calls["/graphql"] == 1


def test_killed_lease_holder_is_taken_over_after_expiry(cache_env, database, bdpm, home):
    bdpm.inject("timeout")  # the first call hangs: its holder is killed in the middle of it
    gate = home / "go"
    gate.touch()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(gate), "1"],
        env=cache_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lease = wait_for(lambda: Lease.get_or_none(Lease.name.startswith("cache:")), timeout=30, message="lease")
    wait_for(lambda: bdpm.total == 1, message="child's upstream call")
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    client = ApiCacheClient(load_settings(cache_env))
    started = time.monotonic()
    result = client.get("bdpm", *ASK)
    waited = time.monotonic() - started
    client.close()
    assert result.data["medicaments"][0]["CIS"] == "60234100" and not result.meta.from_cache
    assert bdpm.total == 2  # the dead holder's call, then ours — never two at once
    assert waited >= (lease.expires_at - lease.acquired_at).total_seconds() - 1.5  # waited for the expiry
    assert Lease.get_or_none(Lease.name == lease.name) is None  # released after our fetch


def test_rate_limit_is_shared_and_paced(database):
    rate = 10.0
    slots = []
    t0 = time.monotonic()
    for _ in range(6):
        wait = ratelimit.reserve("annuaire", rate)
        slots.append(time.monotonic() - t0 + wait)  # when this caller may send, on one clock
    # a burst of 2 at once, then one slot every 1/rate seconds
    assert slots[1] < 0.05
    assert all(abs(s - expected) < 0.05 for s, expected in zip(slots[2:], (0.1, 0.2, 0.3, 0.4))), slots
    ratelimit.penalize("annuaire", 2.0, rate)
    assert 1.8 < ratelimit.reserve("annuaire", rate) < 2.2


CHILD_RESERVE = """
import os, sys, time
from worker.runtime import bootstrap
from worker.cache import ratelimit
bootstrap()
open(sys.argv[1] + ".ready-%d" % os.getpid(), "w").close()
while not os.path.exists(sys.argv[1]):
    time.sleep(0.002)
print(" ".join(repr(ratelimit.reserve_slot("odisse", 20.0)[0]) for _ in range(10)))
"""


def test_rate_limit_holds_across_processes(cache_env, database, home):
    gate = home / "go-reserve"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD_RESERVE, str(gate)], env=cache_env, cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    wait_for(lambda: len(list(home.glob("go-reserve.ready-*"))) == 3, timeout=60, message="children at the gate")
    gate.touch()
    slots = sorted(float(t) for p in procs for t in p.communicate(timeout=60)[0].split())
    assert len(slots) == 30
    # GCRA guarantee: any n consecutive send times (database clock) span at least (n - burst) / rate seconds
    for i in range(len(slots)):
        for j in range(i + ratelimit.BURST, len(slots)):
            assert slots[j] - slots[i] >= (j - i + 1 - ratelimit.BURST) / 20.0 - 0.002, (i, j)
    assert slots[-1] - slots[0] >= (30 - ratelimit.BURST) / 20.0 - 0.002
