"""One HTTP exchange with hard limits: connect/read timeouts, a total deadline, a body size cap.

The body is read raw and decompressed here (not by httpx) so the size cap applies to the
*decompressed* size as it grows: a gzip bomb stops at the cap instead of filling memory.
A slow drip stops at the total deadline (checked after every chunk; each chunk wait is
bounded by the read timeout, and the async path also wraps the whole exchange in a timer).
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from dataclasses import dataclass

import httpx

from worker.cache.errors import InvalidAnswer, UpstreamError
from worker.upstreams import HttpRequest

# httpx logs every request URL at INFO (httpcore at DEBUG); search terms are user activity: keep them out.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
USER_AGENT = "mediflux-worker (+https://mediflux.fr)"


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: httpx.Headers
    body: bytes


class BodyReader:
    """Accumulates a response body, decompressing gzip/deflate, within a size cap and a deadline."""

    def __init__(self, headers: httpx.Headers, max_bytes: int, deadline: float) -> None:
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.parts: list[bytes] = []
        self.size = 0
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding in ("", "identity"):
            self.decoder = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self.decoder = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header, detected
        else:
            raise InvalidAnswer(f"unsupported content-encoding {encoding[:20]!r}")
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > max_bytes:
            raise InvalidAnswer("body too large (content-length over the cap)")

    def _add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise InvalidAnswer("body too large (over the cap)")
        self.parts.append(data)

    def feed(self, chunk: bytes) -> None:
        if time.monotonic() > self.deadline:
            raise UpstreamError("total deadline exceeded while reading the body")
        if self.decoder is None:
            self._add(chunk)
            return
        try:
            # Ask for at most one byte more than allowed: reaching it means the cap is passed.
            self._add(self.decoder.decompress(chunk, self.max_bytes - self.size + 1))
        except zlib.error:
            raise InvalidAnswer("corrupt compressed body") from None

    def finish(self) -> bytes:
        if self.decoder is not None:
            try:
                self._add(self.decoder.flush())
            except zlib.error:
                raise InvalidAnswer("corrupt compressed body") from None
        return b"".join(self.parts)


def _timeout(remaining: float) -> httpx.Timeout:
    return httpx.Timeout(
        connect=min(CONNECT_TIMEOUT, remaining),
        read=min(READ_TIMEOUT, remaining),
        write=min(READ_TIMEOUT, remaining),
        pool=min(CONNECT_TIMEOUT, remaining),
    )


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise UpstreamError("total deadline exceeded")
    return remaining


def _headers(req: HttpRequest, extra: dict[str, str]) -> dict[str, str]:
    return {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate", **req.headers, **extra, **req.secret_headers}


def _transport_error(exc: Exception) -> UpstreamError:
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamError("timeout", retryable=True)
    return UpstreamError(f"connection error ({type(exc).__name__})", retryable=True)


def send(client: httpx.Client, req: HttpRequest, extra: dict[str, str], deadline: float, max_bytes: int) -> RawAnswer:
    """One exchange on a sync client; transport failures become retryable UpstreamError."""
    try:
        with client.stream(
            req.method,
            req.url,
            params=list(req.params) or None,
            json=req.json_body,
            headers=_headers(req, extra),
            timeout=_timeout(_remaining(deadline)),
        ) as resp:
            reader = BodyReader(resp.headers, max_bytes, deadline)
            for chunk in resp.iter_raw():
                reader.feed(chunk)
            return RawAnswer(resp.status_code, resp.headers, reader.finish())
    except (httpx.TransportError, httpx.StreamError) as exc:
        raise _transport_error(exc) from None


async def send_async(
    client: httpx.AsyncClient, req: HttpRequest, extra: dict[str, str], deadline: float, max_bytes: int
) -> RawAnswer:
    """The same exchange on an async client, also bounded as a whole by the deadline."""

    async def exchange() -> RawAnswer:
        async with client.stream(
            req.method,
            req.url,
            params=list(req.params) or None,
            json=req.json_body,
            headers=_headers(req, extra),
            timeout=_timeout(_remaining(deadline)),
        ) as resp:
            reader = BodyReader(resp.headers, max_bytes, deadline)
            async for chunk in resp.aiter_raw():
                reader.feed(chunk)
            return RawAnswer(resp.status_code, resp.headers, reader.finish())

    try:
        return await asyncio.wait_for(exchange(), timeout=_remaining(deadline))
    except TimeoutError:
        raise UpstreamError("total deadline exceeded") from None
    except (httpx.TransportError, httpx.StreamError) as exc:
        raise _transport_error(exc) from None
