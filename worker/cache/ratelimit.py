"""A rate limit per upstream source shared by every thread, process and machine using the database.

GCRA (the "theoretical arrival time" form of a token bucket): the row of a source holds
``tat``; a caller reserves its slot with ONE atomic UPDATE … RETURNING that moves ``tat``
forward by ``1/rate`` and learns how long to wait. The clock is the database's own
(``julianday('now')`` / ``statement_timestamp()``), so processes on several machines
agree and no lock is held while waiting. A 429's Retry-After pushes ``tat`` forward
for everyone (:func:`penalize`).
"""

from __future__ import annotations

from models import ApiRateLimit, db, is_postgres

BURST = 2  # a source may take this many requests back to back before pacing starts

_NOW_SQLITE = "((julianday('now') - 2440587.5) * 86400.0)"
_NOW_PG = "extract(epoch from statement_timestamp())::float8"


def _now_sql() -> tuple[str, str]:
    return (_NOW_PG, "GREATEST") if is_postgres(db) else (_NOW_SQLITE, "MAX")


def _update_returning(sql: str, params: tuple) -> tuple[float, float] | None:
    with db.atomic():
        row = db.execute_sql(sql, params).fetchone()
    return (float(row[0]), float(row[1])) if row else None


def reserve_slot(source: str, rate: float) -> tuple[float, float]:
    """Take the next request slot of ``source`` (``rate`` per second): (slot time on the database clock,
    seconds to wait from now)."""
    interval = 1.0 / rate
    now, greatest = _now_sql()
    p = db.param
    sql = f"UPDATE api_rate_limits SET tat = {greatest}(tat, {now}) + {p} WHERE source = {p} RETURNING tat, {now}"
    row = _update_returning(sql, (interval, source))
    if row is None:
        ApiRateLimit.insert(source=source, tat=0.0).on_conflict_ignore().execute()
        row = _update_returning(sql, (interval, source))
        assert row is not None
    tat, current = row
    slot = max(current, tat - BURST * interval)
    return slot, slot - current


def reserve(source: str, rate: float) -> float:
    """Take the next request slot of ``source``; return seconds to wait before sending."""
    return reserve_slot(source, rate)[1]


def penalize(source: str, seconds: float, rate: float) -> None:
    """Nobody calls ``source`` for ``seconds`` (the server said so with Retry-After)."""
    now, greatest = _now_sql()
    p = db.param
    # Past the burst allowance, so that the next reservation waits the full delay.
    shift = min(float(seconds), 3600.0) + (BURST - 1) / rate
    db.execute_sql(f"UPDATE api_rate_limits SET tat = {greatest}(tat, {now} + {p}) WHERE source = {p}", (shift, source))
