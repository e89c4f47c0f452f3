"""A fake upstream: ThreadingHTTPServer on 127.0.0.1 (a real socket, a real HTTP/1.1 exchange).

``kind`` picks the shapes (bdpm | annuaire | odisse). Faults are queued with
:meth:`FakeUpstream.inject` and consumed one per request, in order:
``500``, ``503``, ``429:<seconds>``, ``timeout``, ``drip``, ``html``, ``truncated``,
``empty``, ``huge`` (streamed, no length), ``huge_declared``, ``gzip_bomb``, ``outcome`` (FHIR OperationOutcome with 200),
``graphql_errors``, ``reset`` (connection closed without an answer).
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
import time
from collections import Counter
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.upstreams import shapes

API_KEY = "test-esante-key-not-a-secret"
PREFIX = {"bdpm": "", "annuaire": "/fhir/v2", "odisse": "/api/explore/v2.1"}


@lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """~50 KB on the wire, 64 MB once inflated."""
    return gzip.compress(b'{"results": "' + b"0" * (64 * 1024 * 1024) + b'"}', compresslevel=9)


class FakeUpstream:
    """One fake source. ``calls`` counts requests per path; ``requests`` keeps (method, path, headers)."""

    def __init__(self, kind: str, delay: float = 0.0) -> None:
        self.kind = kind
        self.delay = delay
        gzip_bomb()  # built once per session (~1 s), before any client deadline runs
        self.faults: list[str] = []
        self.calls: Counter[str] = Counter()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.etag = 'W/"v1"'
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.upstream = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        """The base URL the cache is configured with."""
        return self.origin + PREFIX[self.kind]

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def inject(self, *faults: str) -> None:
        with self.lock:
            self.faults.extend(faults)

    def __enter__(self) -> "FakeUpstream":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def next_fault(self) -> str | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    @property
    def up(self) -> FakeUpstream:
        return self.server.upstream  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve(self.rfile.read(length))

    def _send(self, status: int, body: bytes, ctype: str = "application/json", headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, doc: Any, headers: dict | None = None) -> None:
        ctype = "application/fhir+json" if self.up.kind == "annuaire" else "application/json"
        self._send(status, json.dumps(doc).encode(), ctype, headers)

    def _serve(self, body: bytes) -> None:
        up = self.up
        parts = urlsplit(self.path)
        with up.lock:
            up.calls[parts.path] += 1
            up.requests.append((self.command, self.path, dict(self.headers)))
        if up.delay:
            time.sleep(up.delay)
        fault = up.next_fault()
        if fault and self._fault(fault):
            return
        if up.kind == "bdpm":
            if parts.path != "/graphql" or self.command != "POST":
                return self._json(404, {"message": "not found"})
            return self._json(*shapes.graphql(body))
        if up.kind == "annuaire":
            if self.headers.get("ESANTE-API-KEY") != API_KEY:
                return self._json(401, shapes.outcome("security", "Invalid API key"))
            if up.etag and self.headers.get("If-None-Match") == up.etag and "_getpagesoffset" not in parts.query:
                return self._send(304, b"", headers={"ETag": up.etag})
            status, doc = shapes.fhir(up.url, parts.path[len(shapes_prefix("annuaire")) :], parts.query)
            return self._json(status, doc, {"ETag": up.etag} if status == 200 and up.etag else None)
        status, doc = shapes.records(parts.path, parts.query)
        return self._json(status, doc, {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999"})

    def _fault(self, fault: str) -> bool:
        """Apply one fault; False when the fault lets the normal answer through."""
        if fault in ("500", "503"):
            self._json(int(fault), {"message": "upstream trouble"})
        elif fault.startswith("429"):
            self._json(429, {"message": "Too many requests"}, {"Retry-After": fault.split(":")[1]})
        elif fault == "timeout":
            time.sleep(8)
            self._json(200, {"late": True})
        elif fault == "drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(300):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
        elif fault == "html":
            self._send(200, b"<html><body><h1>Maintenance en cours</h1></body></html>", "text/html; charset=utf-8")
        elif fault == "truncated":
            self._send(200, json.dumps(shapes.empty(self.up.kind, "") | {"pad": "x" * 100}).encode()[:-20])
        elif fault == "empty":
            self._json(200, shapes.empty(self.up.kind, self.up.url))
        elif fault == "huge":  # no Content-Length: only the streaming cap can stop it
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                self.wfile.write(b'{"results": "')
                for _ in range(48):
                    self.wfile.write(b"x" * 65536)
            except OSError:
                pass
        elif fault == "huge_declared":  # refused on its Content-Length, before reading
            self._send(200, b'{"results": "' + b"x" * (2 * 1024 * 1024) + b'"}')
        elif fault == "gzip_bomb":
            self._send(200, gzip_bomb(), headers={"Content-Encoding": "gzip"})
        elif fault == "outcome":
            self._send(200, json.dumps(shapes.outcome("exception", "Internal error")).encode(), "application/fhir+json")
        elif fault == "graphql_errors":
            self._json(200, {"errors": [{"message": "Unexpected error."}], "data": None})
        elif fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        else:
            return False
        return True


def shapes_prefix(kind: str) -> str:
    return PREFIX[kind]
