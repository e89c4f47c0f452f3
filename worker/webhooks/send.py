"""One webhook POST, guarded: checked addresses only, no redirects, timeouts, a total deadline, a size cap.

The host is resolved here, every address checked (:func:`worker.webhooks.addresses.resolve`), and the
connection made to a checked address with the original ``Host`` header and TLS server name — so nothing
resolves the name a second time between the check and the connection (DNS rebinding). A redirect is not
followed (it would lead anywhere): it counts as a failed attempt. One deadline bounds the whole attempt. At most
:data:`MAX_RESPONSE_BYTES` of the answer are read, only to let the connection close cleanly: the status decides
(a status that came before the deadline counts even if the body was still dripping).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import urlunsplit

import httpx

from worker.webhooks.addresses import IPAddress, RefusedTarget, check_url, resolve

for _name in ("httpx", "httpcore"):  # they log URLs at INFO/DEBUG
    logging.getLogger(_name).setLevel(logging.WARNING)

MAX_RESPONSE_BYTES = 16 * 1024
USER_AGENT = "mediflux-worker-webhooks"


@dataclass(frozen=True)
class Answer:
    """What one attempt got: an HTTP status, or None and a short error code (no URL, no address)."""

    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _netloc(ip: IPAddress, port: int) -> str:
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def post(url: str, headers: dict[str, str], body: bytes, *, timeout: float, allow_private: bool) -> Answer:
    """POST ``body`` to ``url`` once, within ``timeout`` seconds in all; never raises for network trouble.

    The exchange runs on its own event loop under one ``asyncio.timeout``: a hard deadline over resolving,
    connecting, sending and every byte of the answer, headers included (a receiver trickling its status line
    byte by byte cannot hold a worker thread past it).
    """
    seen: list[int] = []  # the status, once the answer's head has arrived
    try:
        status = asyncio.run(_post(url, headers, body, timeout, allow_private, seen))
    except TimeoutError:
        if not seen:
            return Answer(None, "timeout")
        status = seen[0]
    if isinstance(status, Answer):
        return status
    if 300 <= status < 400:
        return Answer(status, "redirect_refused")
    return Answer(status, None if 200 <= status < 300 else f"http_{status}")


async def _post(
    url: str, headers: dict[str, str], body: bytes, timeout: float, allow_private: bool, seen: list[int]
) -> Answer | int:
    async with asyncio.timeout(timeout):
        try:
            parts = check_url(url, allow_private)
            https = parts.scheme.lower() == "https"
            port = parts.port or (443 if https else 80)
            host = parts.hostname or ""
            addresses = await asyncio.to_thread(resolve, host, port, allow_private, http=not https)
        except RefusedTarget:
            return Answer(None, "refused_address")
        target = urlunsplit((parts.scheme, _netloc(addresses[0], port), parts.path or "/", parts.query, ""))
        extensions = {"sni_hostname": host} if https else {}
        request_headers = {**headers, "host": parts.netloc.rsplit("@", 1)[-1], "user-agent": USER_AGENT}
        try:
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
                request = client.build_request("POST", target, content=body, headers=request_headers)
                request.extensions.update(extensions)
                response = await client.send(request, stream=True)
                seen.append(response.status_code)
                try:
                    read = 0
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read > MAX_RESPONSE_BYTES:
                            break
                finally:
                    await response.aclose()
        except httpx.TimeoutException:
            if not seen:
                return Answer(None, "timeout")
        except httpx.HTTPError as exc:
            if not seen:
                return Answer(None, _code(exc))
    return seen[0]


def _code(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connect_error"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "protocol_error"
    return "http_error"
