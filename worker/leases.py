"""Database leases: one holder per name across threads, processes and machines.

Used where exactly one worker may do a thing at a time (one upstream call per
cache key, one watcher per inbox). Unlike huey's ``lock_task`` (no TTL on
SQLite), a lease expires: when its holder dies, another takes over once
``expires_at`` passes. Acquire is a single INSERT or a conditional UPDATE, so it
is atomic on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
import threading
import uuid

import peewee

from models import Lease, db
from models.clock import utcnow


def new_holder_id() -> str:
    """A holder id unique to this call site: host, pid, thread and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"


def acquire(name: str, holder: str, ttl: _dt.timedelta, now: _dt.datetime | None = None) -> bool:
    """Take ``name`` for ``ttl`` if free, expired, or already ours (then it is renewed)."""
    now = now or utcnow()
    expires = now + ttl
    try:
        with db.atomic():
            Lease.insert(name=name, holder=holder, acquired_at=now, expires_at=expires).execute()
        return True
    except peewee.IntegrityError:
        pass
    taken = (
        Lease.update(holder=holder, acquired_at=now, expires_at=expires)
        .where((Lease.name == name) & ((Lease.expires_at < now) | (Lease.holder == holder)))
        .execute()
    )
    return taken == 1


def renew(name: str, holder: str, ttl: _dt.timedelta, now: _dt.datetime | None = None) -> bool:
    """Extend our lease; False if it was lost (expired and taken by someone else)."""
    now = now or utcnow()
    count = Lease.update(expires_at=now + ttl).where((Lease.name == name) & (Lease.holder == holder)).execute()
    return count == 1


def release(name: str, holder: str) -> bool:
    """Give the lease up (only if we still hold it)."""
    return Lease.delete().where((Lease.name == name) & (Lease.holder == holder)).execute() == 1


def watcher_lease(inbox: object) -> str:
    """The lease of the one watcher of ``inbox`` (its path, as configured)."""
    return f"watcher:{inbox}"


def holder_of(name: str, now: _dt.datetime | None = None) -> str | None:
    """Current live holder of ``name``, or None."""
    now = now or utcnow()
    row = Lease.get_or_none((Lease.name == name) & (Lease.expires_at >= now))
    return row.holder if row else None


def delete_expired(before: _dt.datetime, limit: int = 1000) -> int:
    """Remove up to ``limit`` leases that expired before ``before`` (used by the sweep)."""
    with db.atomic():
        ids = [r.id for r in Lease.select(Lease.id).where(Lease.expires_at < before).limit(limit)]
        if not ids:
            return 0
        return Lease.delete().where(Lease.id.in_(ids)).execute()
