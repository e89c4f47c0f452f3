"""What declares an upstream API: one :class:`Upstream` per source, its adapter, and the requests it builds.

An adapter is pure (no I/O): ``build`` makes the first request, ``validate`` turns a
parsed body into the data to cache (or raises InvalidAnswer), ``next_request`` follows
paging, ``merge`` joins pages, ``is_empty`` decides negative caching. The declaration
around it carries everything else the worker needs to know about the source — its
variables, defaults and bounds — so that settings, cache keys, policy, the doctor and
the CLI derive from it (see :mod:`worker.upstreams`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from worker.upstreams.errors import InvalidAnswer

DAY = 86400.0
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*")
_HEADER = re.compile(r"[A-Za-z0-9-]+")


@dataclass(frozen=True)
class HttpRequest:
    """One upstream request. ``secret_headers`` are sent but never stored or logged."""

    method: str
    url: str
    params: tuple[tuple[str, str], ...] = ()
    json_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    secret_headers: dict[str, str] = field(default_factory=dict, repr=False)


class Adapter(Protocol):
    def build(self, base_url: str, endpoint: str, params: dict[str, Any]) -> HttpRequest: ...

    def validate(self, endpoint: str, doc: Any) -> Any: ...

    def next_request(self, first: HttpRequest, doc: Any) -> HttpRequest | None: ...

    def merge(self, pages: list[Any]) -> Any: ...

    def is_empty(self, endpoint: str, data: Any) -> bool: ...

    def negative_on_404(self, endpoint: str) -> bool: ...


@dataclass(frozen=True)
class Bounds:
    """A setting's default and the range a configured value must stay within (checked at start)."""

    default: float
    lo: float
    hi: float

    def __post_init__(self) -> None:
        if not self.lo <= self.default <= self.hi:
            raise ValueError(f"default {self.default:g} outside [{self.lo:g}, {self.hi:g}]")


@dataclass(frozen=True)
class Upstream:
    """One upstream API, declared once. Variable names are given without the ``MEDIFLUX_`` prefix.

    Besides the URL and the secret named here, each source reads ``CACHE_TTL_<NAME>``,
    ``CACHE_STALE_<NAME>``, ``CACHE_RATE_<NAME>`` and, when it follows paging links,
    ``<NAME>_PAGE_CAP`` (``<NAME>`` = the name in capitals).
    """

    name: str  # the source in cache keys, rows, the CLI and metrics labels
    api_version: str  # part of every cache key: bump it when cached answers change meaning (old keys then miss)
    adapter: Adapter  # request builder and answer interpreter
    url_variable: str
    default_url: str  # "" = not configured: reads raise SourceNotConfigured naming url_variable
    ttl: Bounds  # seconds an answer is fresh
    stale: Bounds  # seconds it is still served after that (while refreshed, or while upstream fails)
    rate: Bounds  # upstream requests per second, shared by every process
    secret_variable: str | None = None  # an API key: never in cache keys, rows, logs or error messages
    secret_header: str | None = None  # the request header that carries it
    page_cap: Bounds | None = None  # most pages followed for one request; None = one page

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"upstream name {self.name!r}: lower-case letters, digits and '_'")
        for variable in self.variables:
            if not _VARIABLE.fullmatch(variable):
                raise ValueError(f"upstream {self.name}: bad variable name {variable!r}")
        if (self.secret_variable is None) != (self.secret_header is None):
            raise ValueError(f"upstream {self.name}: a secret needs both its variable and its header")
        if self.secret_header is not None and not _HEADER.fullmatch(self.secret_header):
            raise ValueError(f"upstream {self.name}: bad header name {self.secret_header!r}")
        if self.page_cap is not None and self.page_cap.lo < 1:
            raise ValueError(f"upstream {self.name}: the page cap is at least 1")

    @property
    def ttl_variable(self) -> str:
        return f"CACHE_TTL_{self.name.upper()}"

    @property
    def stale_variable(self) -> str:
        return f"CACHE_STALE_{self.name.upper()}"

    @property
    def rate_variable(self) -> str:
        return f"CACHE_RATE_{self.name.upper()}"

    @property
    def page_cap_variable(self) -> str | None:
        return f"{self.name.upper()}_PAGE_CAP" if self.page_cap is not None else None

    @property
    def variables(self) -> tuple[str, ...]:
        """Every variable this source reads, in the order the settings read them."""
        names = (
            self.url_variable,
            self.secret_variable,
            self.ttl_variable,
            self.stale_variable,
            self.rate_variable,
            self.page_cap_variable,
        )
        return tuple(n for n in names if n is not None)


class SinglePage:
    """Mixin for sources without paging (one request, one answer)."""

    def next_request(self, first: HttpRequest, doc: Any) -> HttpRequest | None:
        return None

    def merge(self, pages: list[Any]) -> Any:
        return pages[0]


def same_origin(a: str, b: str) -> bool:
    """True when ``b`` is on the scheme/host/port of ``a`` (paging links may not send our key elsewhere)."""
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def expect_dict(doc: Any, what: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise InvalidAnswer(f"invalid shape: {what} is not a JSON object")
    return doc
