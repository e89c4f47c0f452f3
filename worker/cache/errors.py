"""Typed errors of the API cache: what a caller can catch, and what never leaves the fetch layer.

Messages never carry parameter values, response bodies or secrets: a source name, an
endpoint and a short reason only (they end up in logs and in ``api_cache.last_error``).
"""

from __future__ import annotations


class CacheError(Exception):
    """Base class of every error the cache raises."""


class InvalidRequest(CacheError, ValueError):
    """The source, endpoint or parameters are not acceptable; refused before any upstream call."""


class CacheUnavailable(CacheError):
    """No usable data: nothing cached (or too old) and the upstream call failed."""

    def __init__(self, source: str, endpoint: str, reason: str) -> None:
        self.source = source
        self.endpoint = endpoint
        self.reason = reason
        super().__init__(f"{source} {endpoint}: no cached data and upstream failed ({reason})")


class SourceNotConfigured(CacheUnavailable):
    """The source has no base URL (BDPM has no official public endpoint: set MEDIFLUX_BDPM_URL)."""

    def __init__(self, source: str, endpoint: str, variable: str) -> None:
        super().__init__(source, endpoint, f"not configured: set {variable}")
        self.variable = variable


class UpstreamError(CacheError):
    """One upstream exchange failed (HTTP error, timeout, reset, invalid answer).

    ``retryable`` says whether trying again may help; ``retry_after`` is the server's
    Retry-After in seconds when it sent one. Internal to the fetch path: readers see
    stale data or :class:`CacheUnavailable`.
    """

    def __init__(self, reason: str, retryable: bool = False, retry_after: float | None = None) -> None:
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(reason)


class InvalidAnswer(UpstreamError):
    """The upstream answered, but not with something we may store (wrong type, shape, size, errors)."""
