"""One person's access traces (GDPR art. 15: who saw my data, and why), for ``mediflux access-log`` and exports.

Looked up by the person's key (:func:`worker.userkeys.user_key`): the id given is never stored, and the
traces stay readable this way after an erasure, for as long as their retention keeps them.
"""

from __future__ import annotations

from typing import Any

from models import AccessLog
from worker.config import Settings
from worker.userids import validate_user_id
from worker.userkeys import user_key

FORMAT = "mediflux.access-log/1"
FIELDS = ("at", "actor", "purpose", "resource", "channel")


def entries(settings: Settings, user_id: str) -> list[dict[str, Any]]:
    """Every trace about ``user_id``, oldest first: time (ISO 8601 UTC), actor, purpose, resource, channel."""
    key = user_key(settings, validate_user_id(user_id))
    query = (
        AccessLog.select(*(getattr(AccessLog, f) for f in FIELDS))
        .where(AccessLog.user_key == key)
        .order_by(AccessLog.at, AccessLog.id)
    )
    return [{**{f: getattr(r, f) for f in FIELDS}, "at": r.at.isoformat()} for r in query]


def report(settings: Settings, user_id: str) -> dict[str, Any]:
    """The person's traces with what they mean: how long they are kept, and that they hold no data."""
    return {
        "format": FORMAT,
        "retention_days": settings.retention.access_log,
        "entries": entries(settings, user_id),
    }
