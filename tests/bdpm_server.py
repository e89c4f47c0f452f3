"""A local stand-in for the official BDPM download site: ThreadingHTTPServer on 127.0.0.1 serving files by name.

``GET /download/file/<name>`` answers the bytes set in ``files`` with an ``ETag`` (their SHA-256) and a
``Last-Modified``, and 304 to a matching ``If-None-Match`` (``gzip = True`` compresses answers). Faults are
queued per file and consumed one per request: ``html`` (an error page with status 200), ``500``, ``404``,
``reset`` (the full length announced, half the body sent, then a TCP reset), ``truncated`` (half the file,
with a matching length: upstream's own file is cut). Used by the mirror's tests and bench/bdpm_sync_bench.py.
"""

from __future__ import annotations

import gzip
import hashlib
import socket
import struct
import threading
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PATH = "/download/file/"
LAST_MODIFIED = "Mon, 04 Jan 2021 09:00:00 GMT"
HTML = b"<!DOCTYPE html><html><head><title>Erreur</title></head><body>Service indisponible</body></html>\n"


class BdpmSite:
    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.faults: dict[str, list[str]] = defaultdict(list)
        self.calls: Counter[str] = Counter()
        self.statuses: list[tuple[str, int]] = []
        self.gzip = False  # True: answer gzip-encoded bodies to clients that accept them
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.site = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @classmethod
    def from_folder(cls, folder: Path) -> BdpmSite:
        return cls({p.name: p.read_bytes() for p in folder.iterdir() if p.suffix == ".txt"})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{PATH}"

    def inject(self, name: str, *faults: str) -> None:
        with self.lock:
            self.faults[name].extend(faults)

    def next_fault(self, name: str) -> str | None:
        with self.lock:
            queue = self.faults.get(name)
            return queue.pop(0) if queue else None

    def __enter__(self) -> BdpmSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        site: BdpmSite = self.server.site  # type: ignore[attr-defined]
        name = self.path[len(PATH) :] if self.path.startswith(PATH) else ""
        with site.lock:
            site.calls[name] += 1
        fault = site.next_fault(name)
        body = site.files.get(name)
        status = 200
        if fault == "html":
            self._answer(200, HTML, {"Content-Type": "text/html; charset=utf-8"})
        elif fault in ("500", "404") or body is None:
            status = int(fault) if fault else 404
            self._answer(status, b"error\n", {"Content-Type": "text/plain"})
        else:
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            headers = {"Content-Type": "text/plain; charset=UTF-8", "ETag": etag, "Last-Modified": LAST_MODIFIED}
            if fault is None and self.headers.get("If-None-Match") == etag:
                status = 304
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
            elif fault == "truncated":
                self._answer(200, body[: len(body) // 2], headers)
            elif fault == "reset":
                self.send_response(200)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                status = -1
            elif site.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
                self._answer(200, gzip.compress(body), {**headers, "Content-Encoding": "gzip"})
            else:
                self._answer(200, body, headers)
        with site.lock:
            site.statuses.append((name, status))
