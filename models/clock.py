"""Default timestamps for model fields: timezone-aware UTC (patched by time-machine in tests)."""

from __future__ import annotations

import datetime as _dt


def utcnow() -> _dt.datetime:
    """Current time, aware, UTC. ``models`` keeps its own copy so it imports nothing from ``worker``."""
    return _dt.datetime.now(_dt.UTC)


def ensure_utc(value: _dt.datetime) -> _dt.datetime:
    """Return ``value`` in UTC; naive datetimes are refused (they hide local-time bugs)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime refused: use timezone-aware UTC")
    return value.astimezone(_dt.UTC)
