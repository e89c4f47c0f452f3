"""When to try a failed delivery again: exponential backoff with full jitter, capped, for a day at most.

Full jitter (a uniform draw between 0 and the exponential ceiling) spreads the retries of many deliveries
that failed together (a receiver down), instead of sending them back in one burst.
"""

from __future__ import annotations

import datetime as _dt
import random

FIRST = 5.0  # the ceiling of the first retry's delay, seconds
CAP = 600.0  # no delay above ten minutes
GIVE_UP_AFTER = _dt.timedelta(days=1)  # from the event: then the delivery is marked failed


def delay(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds before the next attempt after ``attempts`` (≥ 1) failed ones: uniform in [0, min(CAP, FIRST·2ⁿ⁻¹)]."""
    ceiling = min(CAP, FIRST * 2.0 ** min(max(attempts, 1) - 1, 30))
    return (rng or random).uniform(0.0, ceiling)


def expired(created_at: _dt.datetime, now: _dt.datetime) -> bool:
    """True once the event is a day old: no further attempt."""
    return now - created_at >= GIVE_UP_AFTER
