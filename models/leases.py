"""Leases: named, expiring claims held by one process at a time (single-flight, takeover on death)."""

from __future__ import annotations

import peewee

from models.base import BaseModel, UTCDateTimeField


class Lease(BaseModel):
    """``name`` is held by ``holder`` until ``expires_at``; an expired lease may be taken over."""

    name = peewee.CharField(max_length=255, unique=True)
    holder = peewee.CharField(max_length=128)
    acquired_at = UTCDateTimeField()
    expires_at = UTCDateTimeField(index=True)

    class Meta:
        table_name = "leases"
