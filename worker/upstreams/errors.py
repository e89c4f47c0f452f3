"""The errors an upstream's adapter raises: a refused request, or an answer that may not be stored.

They are the base of the cache's typed errors (``worker.cache.errors`` adds the reader-facing
ones) and live here so that this package imports nothing of ``worker.cache``: the settings read
the registry, and ``worker.cache`` reads the settings. Messages never carry parameter values,
response bodies or secrets: a source name, an endpoint and a short reason only (they end up in
logs and in ``api_cache.last_error``).
"""

from __future__ import annotations


class CacheError(Exception):
    """Base class of every error the cache raises."""


class InvalidRequest(CacheError, ValueError):
    """The source, endpoint or parameters are not acceptable; refused before any upstream call."""


class UpstreamError(CacheError):
    """One upstream exchange failed (HTTP error, timeout, reset, invalid answer).

    ``retryable`` says whether trying again may help; ``retry_after`` is the server's
    Retry-After in seconds when it sent one. Internal to the fetch path: readers see
    stale data or :class:`~worker.cache.errors.CacheUnavailable`.
    """

    def __init__(self, reason: str, retryable: bool = False, retry_after: float | None = None) -> None:
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(reason)


class InvalidAnswer(UpstreamError):
    """The upstream answered, but not with something we may store (wrong type, shape, size, errors)."""
