"""The doctor's view of one upstream (``mediflux doctor --network``): URL configured, reachable, API key set.

Returns plain (status, detail, fix) so that ``worker.doctor`` wraps it in its ``Check`` (as
:mod:`worker.bdpm.health` does). Details show scheme, host and port only: never a path, key or password.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from worker.config import PREFIX, UpstreamSettings


def upstream_check(upstream: UpstreamSettings, timeout: float = 5.0) -> tuple[str, str, str | None]:
    """``skip`` (no URL), ``fail`` (unreachable), ``warn`` (5xx, or its declared API key unset) or ``ok``."""
    declared = upstream.upstream
    url_variable = PREFIX + declared.url_variable
    if not upstream.url:
        return "skip", f"{url_variable} not set", None
    parts = urlsplit(upstream.url)
    shown = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"  # no path, key or password
    try:
        response = httpx.get(upstream.url, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        return (
            "fail",
            f"{shown} unreachable ({type(exc).__name__})",
            f"check network/DNS/proxy to {shown} and {url_variable}",
        )
    if response.status_code >= 500:
        return (
            "warn",
            f"{shown} answers HTTP {response.status_code}",
            "upstream trouble: the cache serves stale entries meanwhile",
        )
    if declared.secret_variable is not None and not upstream.secret:
        secret_variable = PREFIX + declared.secret_variable
        return (
            "warn",
            f"{shown} answers HTTP {response.status_code}, but {secret_variable} is not set",
            f"set {secret_variable}: until then requests go without their {declared.secret_header} header",
        )
    return "ok", f"{shown} answers HTTP {response.status_code}", None
