"""Typed errors of the API cache: what a caller can catch, and what never leaves the fetch layer.

The base classes are defined beside the upstream adapters that raise them
(:mod:`worker.upstreams.errors`); this module adds what a reader gets when there is no data.
Messages never carry parameter values, response bodies or secrets: a source name, an
endpoint and a short reason only (they end up in logs and in ``api_cache.last_error``).
"""

from __future__ import annotations

from worker.upstreams.errors import CacheError, InvalidAnswer, InvalidRequest, UpstreamError


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


__all__ = ["CacheError", "CacheUnavailable", "InvalidAnswer", "InvalidRequest", "SourceNotConfigured", "UpstreamError"]
