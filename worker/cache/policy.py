"""Per-source freshness and politeness policy, built from the settings (each source's from its declaration).

Each entry has two horizons: ``fresh_until`` (served as is) and ``stale_until``
(served at once while a refresh is queued; also the bound of stale-if-error).
TTLs get up to 10 % jitter *downwards* so entries written together do not expire
together and never live longer than configured.
"""

from __future__ import annotations

import datetime as _dt
import random
from dataclasses import dataclass, field

from worker.config import PREFIX, Settings
from worker.upstreams import Adapter

JITTER = 0.10


@dataclass(frozen=True)
class SourcePolicy:
    """How long answers of one source stay fresh/usable, how fast we may call it, and how to ask it."""

    source: str
    base_url: str
    ttl: float
    stale: float
    negative_ttl: float
    rate: float
    timeout: float
    max_body: int
    adapter: Adapter  # builds the requests and checks the answers
    url_variable: str  # the variable to set when base_url is empty (named by SourceNotConfigured)
    secret_headers: dict[str, str] = field(default_factory=dict, repr=False)  # sent on every page, never stored
    page_cap: int = 1

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
    own = settings.upstreams[source]
    up = own.upstream
    return SourcePolicy(
        source=source,
        base_url=own.url.rstrip("/"),
        ttl=own.ttl,
        stale=own.stale,
        negative_ttl=settings.cache_negative_ttl,
        rate=own.rate,
        timeout=float(settings.cache_timeout),
        max_body=settings.cache_max_body_mb * 1024 * 1024,
        adapter=up.adapter,
        url_variable=PREFIX + up.url_variable,
        secret_headers={up.secret_header: own.secret} if up.secret_header and own.secret else {},
        page_cap=own.page_cap,
    )
