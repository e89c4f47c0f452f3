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
from worker.cache.reader import ApiCacheClient, CacheMeta, CacheResult, set_refresh_enqueuer
from worker.config import Settings, exit_on_config_error, load_settings

_lock = threading.Lock()
_default: list[ApiCacheClient | None] = [None]


def configure(settings: Settings) -> ApiCacheClient:
    """Make the process-wide client use ``settings`` (bootstrap's settings by default).

    The previous client is closed: call this at start (or in tests), not while reads run.
    """
    with _lock:
        old, _default[0] = _default[0], ApiCacheClient(settings)
    if old is not None:
        old.close()
    return _default[0]  # type: ignore[return-value]


def client() -> ApiCacheClient:
    """The process-wide client, built from the ``MEDIFLUX_*`` settings on first use.

    It reads and writes the database the models are bound to (``worker.runtime.bootstrap()``,
    which every entry point calls first); it never binds one itself.
    """
    current = _default[0]
    if current is None:
        with _lock:  # threads racing on first use must share one client
            if _default[0] is None:
                _default[0] = ApiCacheClient(exit_on_config_error(load_settings))
            current = _default[0]
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
    "set_refresh_enqueuer",
]
