"""A real webhook receiver on 127.0.0.1 for the webhook tests: scripted answers, every request recorded."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    path: str


class Receiver:
    """Answers each POST with the next scripted action (the last one repeats):

    ``200``/``500``/``410``/``302`` — that status; ``("slow", s, code)`` — wait s seconds, then answer;
    ``("drip", s)`` — send 200 headers, then one byte every s seconds for a long time;
    ``("trickle", s)`` — send the status line and headers one byte every s seconds;
    ``("hold", event)`` — wait until ``event`` is set (or 60 s), then answer 200;
    ``"big"`` — 200 with a 1 MiB body.
    """

    def __init__(self, *script: Any) -> None:
        self.script = list(script) or [200]
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body, self.path))
                    n = len(receiver.requests)
                    action = receiver.script[min(n, len(receiver.script)) - 1]
                try:
                    receiver.act(self, action)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def act(self, handler: BaseHTTPRequestHandler, action: Any) -> None:
        if isinstance(action, tuple) and action[0] == "slow":
            time.sleep(action[1])
            action = action[2]
        if isinstance(action, tuple) and action[0] == "hold":
            action[1].wait(60)
            action = 200
        if isinstance(action, tuple) and action[0] == "drip":
            handler.send_response(200)
            handler.send_header("content-length", "100000")
            handler.end_headers()
            for _ in range(100000):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(action[1])
            return
        if isinstance(action, tuple) and action[0] == "trickle":  # the status line itself, a byte at a time
            for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n":
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(action[1])
            return
        if action == "big":
            payload = b"y" * (1 << 20)
            handler.send_response(200)
            handler.send_header("content-length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        code = int(action)
        handler.send_response(code)
        if code == 302:
            handler.send_header("location", "http://169.254.169.254/latest/meta-data/")
        handler.send_header("content-length", "2")
        handler.end_headers()
        handler.wfile.write(b"ok")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/mediflux"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
