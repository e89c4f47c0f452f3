"""One webhook POST, guarded: checked addresses only, no redirects, timeouts, a total deadline, a size cap.

The host is resolved here, every address checked (:func:`worker.webhooks.addresses.resolve`), and the
connection made to a checked address with the original ``Host`` header and TLS server name — so nothing
resolves the name a second time between the check and the connection (DNS rebinding). A redirect is not
followed (it would lead anywhere): it counts as a failed attempt. At most :data:`MAX_RESPONSE_BYTES` of the
answer are read, and only to let the connection close cleanly: the status alone decides.
"""

from __future__ import annotations

import logging
import time
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
    """POST ``body`` to ``url`` once, within ``timeout`` seconds in all; never raises for network trouble."""
    deadline = time.monotonic() + timeout
    try:
        parts = check_url(url, allow_private)
        https = parts.scheme.lower() == "https"
        port = parts.port or (443 if https else 80)
        host = parts.hostname or ""
        addresses = resolve(host, port, allow_private, http=not https)
    except RefusedTarget:
        return Answer(None, "refused_address")
    target = urlunsplit((parts.scheme, _netloc(addresses[0], port), parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rsplit("@", 1)[-1]
    extensions = {"sni_hostname": host} if https else {}
    limits = httpx.Timeout(timeout)
    try:
        with httpx.Client(timeout=limits, follow_redirects=False, trust_env=False) as client:
            request = client.build_request(
                "POST",
                target,
                content=body,
                headers={**headers, "host": host_header, "user-agent": USER_AGENT},
                extensions=extensions,
            )
            response = client.send(request, stream=True)
            try:
                read = 0
                for chunk in response.iter_raw():
                    read += len(chunk)
                    if read > MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                        break
                status = response.status_code
            finally:
                response.close()
    except httpx.TimeoutException:
        return Answer(None, "timeout")
    except httpx.HTTPError as exc:
        return Answer(None, _code(exc))
    if 300 <= status < 400:
        return Answer(status, "redirect_refused")
    return Answer(status, None if 200 <= status < 300 else f"http_{status}")


def _code(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connect_error"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "protocol_error"
    return "http_error"
