"""The read path: ``get`` / ``aget`` answer from the cache, fetching at most once per key.

- fresh entry → returned (no write: counts are batched, see stats.py);
- stale entry (before ``stale_until``) → returned at once, a refresh is enqueued
  (stale-while-revalidate) and, if refreshes are failing, the metadata says so;
- missing or expired entry → fetched now: one upstream call per key across threads and
  processes (flight.py); on failure, :class:`CacheUnavailable` (typed, no data at all).
The sync and async paths share every rule (see fetch.py's plan/driver split).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import threading
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from models.clock import utcnow
from worker import leases
from worker.cache import entries, fetch
from worker.cache.errors import CacheUnavailable, InvalidAnswer, SourceNotConfigured, UpstreamError
from worker.cache.flight import POLL_SECONDS, Flights, lease_name
from worker.cache.keys import cache_key, key_and_params, normalize_params
from worker.cache.policy import SourcePolicy, policy_for
from worker.cache.stats import COUNTERS
from worker.config import Settings
from worker.triggers import NO_QUEUE, Triggers

log = logging.getLogger("mediflux.cache")
ENQUEUE_MEMORY = 60.0  # seconds: one refresh enqueued per stale key and process in this window


class CacheMeta:
    """Freshness of an answer: ``status`` is ``fresh`` or ``stale``; ages in seconds.

    Fields are read from the entry on access: building the metadata is most of a hit's
    own cost otherwise (the hit path's budget is about one raw point read).
    """

    __slots__ = ("_because_error", "_entry", "_now", "endpoint", "from_cache", "source", "status")
    FIELDS = (
        "source",
        "endpoint",
        "status",
        "fetched_at",
        "age_seconds",
        "fresh_until",
        "stale_until",
        "negative",
        "stale_because_error",
        "from_cache",
    )

    def __init__(
        self,
        entry: entries.Entry,
        source: str,
        endpoint: str,
        status: str,
        now: _dt.datetime,
        from_cache: bool = True,
        because_error: bool | None = None,
    ) -> None:
        self.source, self.endpoint, self.status, self.from_cache = source, endpoint, status, from_cache
        self._entry, self._now, self._because_error = entry, now, because_error

    @property
    def fetched_at(self) -> _dt.datetime:
        return self._entry.fetched_at  # type: ignore[return-value]

    @property
    def fresh_until(self) -> _dt.datetime:
        return self._entry.fresh_until  # type: ignore[return-value]

    @property
    def stale_until(self) -> _dt.datetime:
        return self._entry.stale_until  # type: ignore[return-value]

    @property
    def age_seconds(self) -> float:
        """Seconds since the data was fetched or last revalidated (304)."""
        return max(0.0, (self._now - self.fetched_at).total_seconds())

    @property
    def negative(self) -> bool:
        """A 404 or an empty answer (cached briefly)."""
        return self._entry.negative

    @property
    def stale_because_error(self) -> bool:
        """Served stale because upstream is failing."""
        failing = self._entry.failing if self._because_error is None else self._because_error
        return self.status == "stale" and failing

    def as_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.FIELDS}
        for name in ("fetched_at", "fresh_until", "stale_until"):
            out[name] = out[name].isoformat()
        out["age_seconds"] = round(self.age_seconds, 3)
        return out

    def __repr__(self) -> str:
        return f"CacheMeta({self.as_dict()!r})"


@dataclass(slots=True)
class CacheResult:
    data: Any
    meta: CacheMeta


def _result(
    entry: entries.Entry,
    source: str,
    endpoint: str,
    now: _dt.datetime,
    status: str,
    from_cache: bool = True,
    because_error: bool | None = None,
) -> CacheResult:
    return CacheResult(entry.data, CacheMeta(entry, source, endpoint, status, now, from_cache, because_error))


def _fresh(entry: entries.Entry | None, now: _dt.datetime) -> bool:
    return entry is not None and entry.has_data and now < entry.fresh_until  # type: ignore[operator]


class ApiCacheClient:
    """The cache for one set of settings. Thread-safe; one per process is enough."""

    def __init__(self, settings: Settings, triggers: Triggers = NO_QUEUE) -> None:
        self.settings = settings
        self.triggers = triggers  # stale reads ask it for a refresh
        self.policies: dict[str, SourcePolicy] = {s: policy_for(settings, s) for s in settings.upstreams}
        self._client: httpx.Client | None = None  # built on the first fetch (see _http)
        self._flights = Flights()
        self._aflights: dict[tuple[int, str], asyncio.Future] = {}
        self._lock = threading.Lock()
        self._enqueued: dict[str, float] = {}

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _http(self) -> httpx.Client:
        """The HTTP client, built on first use: building one loads the TLS trust store (costly CPU), which a
        process that only reads the cache, or a refresh job with nothing due, never needs."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = httpx.Client(follow_redirects=False)
        return self._client

    # -- hot path -------------------------------------------------------------------------------
    def _cached(
        self, source: str, endpoint: str, params: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any], str, CacheResult | None]:
        key, clean = key_and_params(source, endpoint, params)  # ~ a few µs: one walk, one SHA-256
        entry = entries.read(source, endpoint, key)
        now = utcnow()
        if entry is not None and entry.fetched_at is not None:
            if now < entry.fresh_until:  # type: ignore[operator]
                COUNTERS.read(source, "hits", entry.id, now)
                return clean, key, _result(entry, source, endpoint, now, "fresh")
            if now < entry.stale_until:  # type: ignore[operator]
                COUNTERS.read(source, "stale_served", entry.id, now)
                self._schedule_refresh(source, endpoint, clean, key)
                return clean, key, _result(entry, source, endpoint, now, "stale")
        self._check(source, endpoint, clean)  # a refused request is not a miss
        COUNTERS.add(source, "misses")
        return clean, key, None

    def get(self, source: str, endpoint: str, params: Mapping[str, Any] | None = None) -> CacheResult:
        """Data and freshness of ``source``/``endpoint``/``params`` (see module doc)."""
        clean, key, result = self._cached(source, endpoint, params)
        if result is not None:
            return result
        return self._flights.run(key, lambda: fetch.run(self._lead(source, endpoint, clean, key), self._http()))

    async def aget(self, source: str, endpoint: str, params: Mapping[str, Any] | None = None) -> CacheResult:
        """``get`` for asyncio code: waits and HTTP are async; the short database calls run inline."""
        clean, key, result = self._cached(source, endpoint, params)
        if result is not None:
            return result
        loop = asyncio.get_running_loop()
        slot = (id(loop), key)
        pending = self._aflights.get(slot)
        if pending is not None:
            return await asyncio.shield(pending)
        future = self._aflights[slot] = loop.create_future()
        try:
            async with httpx.AsyncClient(follow_redirects=False) as client:
                result = await fetch.run_async(self._lead(source, endpoint, clean, key), client)
            future.set_result(result)
            return result
        except asyncio.CancelledError:
            future.cancel()  # the waiters are cancelled too; the next reader starts over
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            self._aflights.pop(slot, None)

    # -- fetch path ----------------------------------------------------------------------------
    def _check(self, source: str, endpoint: str, params: dict[str, Any]) -> None:
        """Refuse bad requests and unconfigured sources before any lease or upstream call."""
        policy = self.policies[source]
        policy.adapter.build(policy.base_url or "http://unset", endpoint, params)
        if not policy.base_url:
            raise SourceNotConfigured(source, endpoint, policy.url_variable)

    def _plan(self, source: str, endpoint: str, params: dict[str, Any], entry: entries.Entry | None) -> fetch.Plan:
        usable = entry is not None and entry.has_data and not entry.negative
        return fetch.plan(
            self.policies[source],
            endpoint,
            params,
            etag=entry.etag if usable else None,  # type: ignore[union-attr]
            last_modified=entry.last_modified if usable else None,  # type: ignore[union-attr]
        )

    def _under_lease(
        self, source: str, endpoint: str, params: dict[str, Any], key: str, ahead: _dt.timedelta = _dt.timedelta(0)
    ) -> Generator[tuple, Any, tuple[str, entries.Entry]]:
        """Fetch and store while holding the key's lease; returns (outcome, entry). Notes and re-raises failures."""
        entry = entries.read(source, endpoint, key, full=True)
        if _fresh(entry, utcnow() + ahead):  # someone finished just before we took the lease
            return "fresh", entry  # type: ignore[return-value]
        policy = self.policies[source]
        COUNTERS.add(source, "upstream_calls")
        try:
            fetched = yield from self._plan(source, endpoint, params, entry)
            now = utcnow()
            if fetched.not_modified:
                if entry is None or not entry.has_data:
                    raise InvalidAnswer("304 without a cached answer")
                entries.revalidated(entry.id, now, policy)
                COUNTERS.add(source, "not_modified")
                outcome = "not_modified"
            elif (
                fetched.negative
                and entry is not None
                and entry.has_data
                and not entry.negative
                and entry.stale_until is not None
                and now < entry.stale_until
            ):
                raise InvalidAnswer("empty answer where there were results")
            else:
                entries.store(source, endpoint, key, params, fetched, now, policy)
                outcome = "updated"
        except UpstreamError as exc:
            COUNTERS.add(source, "rejected" if isinstance(exc, InvalidAnswer) else "upstream_errors")
            entries.record_error(source, endpoint, key, params, exc.reason, utcnow())
            log.warning("cache %s %s: upstream failed: %s", source, endpoint.split("/")[0], exc.reason)
            raise
        stored = entries.read(source, endpoint, key)
        assert stored is not None
        return outcome, stored

    def _lead(self, source: str, endpoint: str, params: dict[str, Any], key: str) -> Generator[tuple, Any, CacheResult]:
        """This process's one fetch of a missing key: lead under the lease, or wait for the holder."""
        policy = self.policies[source]
        name, holder = lease_name(key), leases.new_holder_id()
        started = utcnow()
        give_up = time.monotonic() + policy.timeout + 2 * policy.lease_ttl.total_seconds()
        while True:
            entry = entries.read(source, endpoint, key, full=True)
            now = utcnow()
            if _fresh(entry, now):
                COUNTERS.touch(entry.id, now)  # type: ignore[union-attr]
                return _result(entry, source, endpoint, now, "fresh")  # type: ignore[arg-type]
            if entry is not None and entry.last_error_at is not None and entry.last_error_at > started:
                return self._failed(entry, source, endpoint, entry.last_error or "upstream failed")
            if leases.acquire(name, holder, policy.lease_ttl):
                try:
                    outcome, stored = yield from self._under_lease(source, endpoint, params, key)
                except UpstreamError as exc:
                    return self._failed(entry, source, endpoint, exc.reason)
                finally:
                    leases.release(name, holder)
                now = utcnow()
                COUNTERS.touch(stored.id, now)
                return _result(stored, source, endpoint, now, "fresh", from_cache=outcome == "fresh")
            if time.monotonic() > give_up:
                raise CacheUnavailable(source, endpoint, "timed out waiting for another fetch of this key")
            yield ("sleep", POLL_SECONDS)

    def _failed(self, entry: entries.Entry | None, source: str, endpoint: str, reason: str) -> CacheResult:
        """Stale-if-error within ``stale_until``; otherwise the typed error."""
        now = utcnow()
        if entry is not None and entry.has_data and now < entry.stale_until:  # type: ignore[operator]
            COUNTERS.add(source, "stale_if_error")
            return _result(entry, source, endpoint, now, "stale", because_error=True)
        raise CacheUnavailable(source, endpoint, reason)

    # -- refresh ---------------------------------------------------------------------------------
    def refresh(
        self,
        source: str,
        endpoint: str,
        params: Mapping[str, Any] | None = None,
        ahead: _dt.timedelta = _dt.timedelta(0),
    ) -> str:
        """Refresh one entry if it is (about to be) stale: ``fresh``, ``busy`` (another holds the key),
        ``not_configured``, ``updated``, ``not_modified`` or ``failed``. Never raises for upstream trouble."""
        clean = normalize_params(params)
        key = cache_key(source, endpoint, clean)
        entry = entries.read(source, endpoint, key)
        if entry is not None and entry.has_data and entry.fresh_until > utcnow() + ahead:  # type: ignore[operator]
            return "fresh"
        if not self.policies[source].base_url:
            return "not_configured"
        self._check(source, endpoint, clean)
        name, holder = lease_name(key), leases.new_holder_id()
        if not leases.acquire(name, holder, self.policies[source].lease_ttl):
            return "busy"
        try:
            outcome, _ = fetch.run(self._under_lease(source, endpoint, clean, key, ahead), self._http())
            return outcome
        except UpstreamError:
            return "failed"
        finally:
            leases.release(name, holder)

    def _schedule_refresh(self, source: str, endpoint: str, params: dict[str, Any], key: str) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._enqueued.get(key)
            if last is not None and now - last < ENQUEUE_MEMORY:
                return
            if len(self._enqueued) > 10_000:
                self._enqueued.clear()
            self._enqueued[key] = now
        try:  # without a queue (NO_QUEUE) the periodic refresh job picks stale, recently read entries
            self.triggers.refresh_cache(source, endpoint, params)
        except Exception as exc:  # noqa: BLE001 — a queue hiccup must not fail a read that has data
            log.warning("cache refresh not enqueued (%s): the periodic job will pick it up", type(exc).__name__)
