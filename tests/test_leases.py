"""Database leases: one holder at a time, renewal, takeover after expiry."""

import datetime as dt
import threading

import time_machine

from worker import leases

UTC = dt.timezone.utc
TTL = dt.timedelta(seconds=30)


def test_one_holder_renew_release_takeover(database):
    with time_machine.travel(dt.datetime(2026, 1, 1, tzinfo=UTC), tick=False) as clock:
        assert leases.acquire("k", "a", TTL)
        assert not leases.acquire("k", "b", TTL)
        assert leases.acquire("k", "a", TTL)  # re-entrant for the holder
        clock.shift(dt.timedelta(seconds=20))
        assert leases.renew("k", "a", TTL)
        clock.shift(dt.timedelta(seconds=25))
        assert not leases.acquire("k", "b", TTL)  # renewed: still held
        clock.shift(dt.timedelta(seconds=10))
        assert leases.holder_of("k") is None
        assert leases.acquire("k", "b", TTL)  # a's lease expired: taken over
        assert not leases.renew("k", "a", TTL) and not leases.release("k", "a")
        assert leases.release("k", "b") and leases.acquire("k", "c", TTL)
        clock.shift(dt.timedelta(minutes=5))
        assert leases.delete_expired(leases.utcnow()) == 1


def test_concurrent_acquire_has_one_winner(database):
    barrier = threading.Barrier(10)
    wins = []

    def contender(i):
        barrier.wait()
        wins.append(leases.acquire("hot-key", f"h{i}", TTL))
        database.close()

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1
