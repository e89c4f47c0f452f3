"""What every source adapter provides, and the request description the HTTP layer executes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from worker.cache.errors import InvalidAnswer


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
    name: str
    accept: str

    def build(self, base_url: str, endpoint: str, params: dict[str, Any], secret: str) -> HttpRequest: ...

    def validate(self, endpoint: str, doc: Any) -> Any: ...

    def next_request(self, first: HttpRequest, doc: Any) -> HttpRequest | None: ...

    def merge(self, pages: list[Any]) -> Any: ...

    def is_empty(self, endpoint: str, data: Any) -> bool: ...

    def negative_on_404(self, endpoint: str) -> bool: ...


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
