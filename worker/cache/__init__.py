"""API cache for BDPM, Annuaire Santé and Odissé: always answer, never thunder, never poison.

The app reads through :func:`get` (or :func:`aget` in async code); the worker keeps
entries fresh (:mod:`worker.cache.refresh`). See docs/cache.md.

    from worker import cache
    result = cache.get("odisse", "covid-19-vaccination", {"limit": 10})
    result.data, result.meta.status, result.meta.age_seconds
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from worker.cache.errors import (
    CacheError,
    CacheUnavailable,
    InvalidAnswer,
    InvalidRequest,
    SourceNotConfigured,
    UpstreamError,
)
from worker.cache.keys import SOURCES, cache_key
from worker.cache.reader import ApiCacheClient, CacheMeta, CacheResult
from worker.config import Settings
from worker.triggers import NO_QUEUE, Triggers

_lock = threading.Lock()
_default: list[ApiCacheClient | None] = [None]


class CacheNotConfigured(CacheError):
    """No composition root ran in this process: ``worker.runtime.bootstrap()`` (or ``tasks.connect()``)
    configures the cache with the process's settings."""


def configure(settings: Settings, triggers: Triggers = NO_QUEUE) -> ApiCacheClient:
    """Make the process-wide client use ``settings`` and ``triggers`` (the composition root calls this).

    The previous client is closed: call this at start (or in tests), not while reads run.
    """
    client = ApiCacheClient(settings, triggers)
    with _lock:
        old, _default[0] = _default[0], client
    if old is not None:
        old.close()
    return client


def client() -> ApiCacheClient:
    """The process-wide client, as the composition root configured it.

    It reads and writes the database the models are bound to; it never binds one itself, and it never
    reads settings on its own (a process has one set, the one ``bootstrap`` was given).
    """
    current = _default[0]
    if current is None:
        raise CacheNotConfigured("the API cache is not configured: call worker.runtime.bootstrap() first")
    return current


def get(source: str, endpoint: str, params: Mapping[str, Any] | None = None) -> CacheResult:
    """Data + freshness for one upstream question; see :meth:`ApiCacheClient.get`."""
    return client().get(source, endpoint, params)


async def aget(source: str, endpoint: str, params: Mapping[str, Any] | None = None) -> CacheResult:
    """Async :func:`get`."""
    return await client().aget(source, endpoint, params)


__all__ = [
    "SOURCES",
    "ApiCacheClient",
    "CacheError",
    "CacheMeta",
    "CacheNotConfigured",
    "CacheResult",
    "CacheUnavailable",
    "InvalidAnswer",
    "InvalidRequest",
    "SourceNotConfigured",
    "UpstreamError",
    "aget",
    "cache_key",
    "client",
    "configure",
    "get",
]
