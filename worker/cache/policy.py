"""Per-source freshness and politeness policy, built from the settings.

Each entry has two horizons: ``fresh_until`` (served as is) and ``stale_until``
(served at once while a refresh is queued; also the bound of stale-if-error).
TTLs get up to 10 % jitter *downwards* so entries written together do not expire
together and never live longer than configured.
"""

from __future__ import annotations

import datetime as _dt
import random
from dataclasses import dataclass

from worker.config import Settings

JITTER = 0.10
CONFIG_VARIABLES = {"bdpm": "MEDIFLUX_BDPM_URL", "annuaire": "MEDIFLUX_ANNUAIRE_URL", "odisse": "MEDIFLUX_ODISSE_URL"}


@dataclass(frozen=True)
class SourcePolicy:
    """How long answers of one source stay fresh/usable and how fast we may call it."""

    source: str
    base_url: str
    ttl: float
    stale: float
    negative_ttl: float
    rate: float
    timeout: float
    max_body: int

    def horizons(
        self, now: _dt.datetime, negative: bool = False, rng: random.Random | None = None
    ) -> tuple[_dt.datetime, _dt.datetime]:
        """``(fresh_until, stale_until)`` for an answer fetched (or revalidated) at ``now``."""
        ttl = min(self.negative_ttl, self.ttl) if negative else self.ttl
        ttl *= 1.0 - JITTER * (rng or random).random()
        fresh_until = now + _dt.timedelta(seconds=ttl)
        stale = ttl if negative else self.stale
        return fresh_until, fresh_until + _dt.timedelta(seconds=stale)

    @property
    def refresh_ahead(self) -> _dt.timedelta:
        """Entries expiring within this window are refreshed by the periodic job (before they go stale)."""
        return _dt.timedelta(seconds=max(1800.0, self.ttl * 0.05))

    @property
    def lease_ttl(self) -> _dt.timedelta:
        """How long a fetch may hold its key: the whole fetch has a total deadline of ``timeout``."""
        return _dt.timedelta(seconds=self.timeout + 2.0)


def policy_for(settings: Settings, source: str) -> SourcePolicy:
    """The policy of ``source`` under ``settings``."""
    base = {"bdpm": settings.bdpm_url, "annuaire": settings.annuaire_url, "odisse": settings.odisse_url}[source]
    return SourcePolicy(
        source=source,
        base_url=base.rstrip("/"),
        ttl=settings.cache_ttl[source],
        stale=settings.cache_stale[source],
        negative_ttl=settings.cache_negative_ttl,
        rate=settings.cache_rate[source],
        timeout=float(settings.cache_timeout),
        max_body=settings.cache_max_body_mb * 1024 * 1024,
    )
