"""Consumer heartbeat: each consumer process renews a lease ``consumer:<host>:<pid>`` every minute.

The lease table already expires and cleans up claims, so a heartbeat is just a
lease whose holder is the process: "alive" means at least one such lease has not
expired. :func:`worker.opstate.processes` reads it for the doctor, the dashboard and
``mediflux status``; nothing else depends on it.
"""

from __future__ import annotations

import datetime as _dt
import os
import socket

from models import Lease
from models.clock import utcnow
from worker import leases

PREFIX = "consumer:"
# Renewed every minute by tasks.ops; three missed beats and the consumer counts as gone.
TTL = _dt.timedelta(minutes=3)
# Heartbeats of processes gone for this long are deleted (a restart leaves one row behind).
FORGET_AFTER = _dt.timedelta(days=1)


def consumer_name() -> str:
    """This process's heartbeat name (host and pid: one per consumer process)."""
    return f"{PREFIX}{socket.gethostname()}:{os.getpid()}"


def beat(now: _dt.datetime | None = None) -> bool:
    """Record that this consumer is alive (idempotent; called from every worker thread)."""
    now = now or utcnow()
    name = consumer_name()
    Lease.delete().where(Lease.name.startswith(PREFIX) & (Lease.expires_at < now - FORGET_AFTER)).execute()
    return leases.acquire(name, name, TTL, now)


def live_consumers(now: _dt.datetime | None = None) -> list[dict[str, str]]:
    """Consumers whose heartbeat has not expired, with the time of their last beat."""
    now = now or utcnow()
    rows = (
        Lease.select(Lease.name, Lease.acquired_at)
        .where(Lease.name.startswith(PREFIX) & (Lease.expires_at >= now))
        .order_by(Lease.name)
    )
    return [{"name": r.name[len(PREFIX) :], "last_beat": r.acquired_at.isoformat()} for r in rows]
