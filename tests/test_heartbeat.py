"""Consumer heartbeat leases: alive while renewed, gone after three missed minutes, forgotten after a day."""

import datetime as dt

from models import Lease
from models.clock import utcnow
from worker import heartbeat


def test_beat_renews_expires_and_forgets(database):
    t0 = utcnow()
    assert heartbeat.beat(t0) and heartbeat.beat(t0)  # idempotent for one process
    alive = heartbeat.live_consumers(t0)
    assert len(alive) == 1 and heartbeat.consumer_name().endswith(alive[0]["name"])
    assert heartbeat.live_consumers(t0 + dt.timedelta(minutes=2))
    assert heartbeat.beat(t0 + dt.timedelta(minutes=2))
    assert heartbeat.live_consumers(t0 + dt.timedelta(minutes=4))  # renewed at +2 min
    assert heartbeat.live_consumers(t0 + dt.timedelta(minutes=6)) == []
    Lease.create(
        name="consumer:old-host:1",
        holder="consumer:old-host:1",
        acquired_at=t0 - dt.timedelta(days=3),
        expires_at=t0 - dt.timedelta(days=3) + heartbeat.TTL,
    )
    Lease.create(
        name="watcher:/inbox", holder="w", acquired_at=t0 - dt.timedelta(days=3), expires_at=t0 - dt.timedelta(days=3)
    )
    heartbeat.beat(t0)
    assert {lease.name for lease in Lease.select()} == {heartbeat.consumer_name(), "watcher:/inbox"}
