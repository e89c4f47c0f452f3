"""The dashboard's WSGI app and server: GET pages, POST actions, on 127.0.0.1 only.

Security: the server binds to loopback; requests whose Host is not the loopback
address are refused (DNS rebinding); pages send a strict Content-Security-Policy
(no scripts at all). Actions are POST only, need the token typed into the form
(no cookie, so a cross-site form cannot carry it), and a cross-origin or ``null``
``Origin`` is refused. Pages may not be framed; the banner after an action is a fixed text chosen by an
outcome code (``?done=job-due``), never text from the request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import peewee
from huey import Huey

from worker.access.trail import record_once
from worker.config import Settings
from worker.dashboard import actions, data, pages
from worker.dashboard.bdpm import bdpm_page

log = logging.getLogger("mediflux.dashboard")
HOST = "127.0.0.1"
MAX_FORM_BYTES = 4096
SECURITY_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Frame-Options", "DENY"),  # for browsers without CSP frame-ancestors
    ("X-Content-Type-Options", "nosniff"),
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on our own forms, which
    # the actions refuse; other sites still get no Referer.
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
]

StartResponse = Callable[..., Any]


class DashboardApp:
    """WSGI callable: one instance per process, a database connection per request."""

    def __init__(self, settings: Settings, database: peewee.Database, huey: Huey) -> None:
        self.settings = settings
        self.database = database
        self.huey = huey
        self.routes: dict[str, tuple[str, Callable[[], str]]] = {
            "/": ("Overview", lambda: pages.overview_page(data.overview(settings, huey), self.actions_on)),
            "/documents": ("Documents", self._documents_page),
            "/cache": ("Cache", lambda: pages.cache_page(data.cache())),
            "/jobs": ("Periodic jobs", lambda: pages.jobs_page(data.jobs(), self.actions_on)),
            "/retention": ("Retention audit", lambda: pages.retention_page(data.retention_audit())),
            "/bdpm": ("BDPM mirror", lambda: bdpm_page(data.bdpm(settings))),
        }

    def _documents_page(self) -> str:
        """The documents page, whose rows belong to users: each user shown is traced (access log)."""
        shown = data.documents(self.settings)
        body = pages.documents_page(shown, self.actions_on)
        for resource, user_ids in shown["shown"].items():
            record_once(self.settings, self.database, user_ids, resource, channel="dashboard")
        return body

    @property
    def actions_on(self) -> bool:
        return self.settings.dashboard_actions and bool(self.settings.dashboard_token)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not self._host_ok(environ):
            return self._plain(start_response, HTTPStatus.MISDIRECTED_REQUEST, "unknown host")
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO") or "/"
        if path.startswith("/actions/"):
            if method != "POST":
                return self._plain(start_response, HTTPStatus.METHOD_NOT_ALLOWED, "POST only", [("Allow", "POST")])
            return self._action(environ, start_response, path[len("/actions/") :])
        if path not in self.routes:
            return self._plain(start_response, HTTPStatus.NOT_FOUND, "not found")
        if method not in ("GET", "HEAD"):
            return self._plain(start_response, HTTPStatus.METHOD_NOT_ALLOWED, "GET only", [("Allow", "GET")])
        title, render = self.routes[path]
        # After an action the redirect names an outcome code; the banner is its fixed text (never query text).
        message = actions.message_for(parse_qs(environ.get("QUERY_STRING", "")).get("done", [None])[0])
        try:
            with self.database.connection_context():
                body = pages.layout(title, path, render(), message=message)
        except Exception as exc:  # noqa: BLE001 — a traceback may quote row values: log the type only
            log.warning("dashboard page %s failed: %s", path, type(exc).__name__)
            return self._plain(
                start_response,
                HTTPStatus.INTERNAL_SERVER_ERROR,
                f"this page failed ({type(exc).__name__}); see the dashboard's log",
            )
        return self._send(start_response, HTTPStatus.OK, body, "text/html; charset=utf-8")

    def _host_ok(self, environ: dict[str, Any]) -> bool:
        host = (environ.get("HTTP_HOST") or "").rsplit(":", 1)[0].strip("[]").lower()
        return host in ("127.0.0.1", "localhost", "::1")

    def _action(self, environ: dict[str, Any], start_response: StartResponse, name: str) -> Iterable[bytes]:
        if not self.actions_on:
            return self._plain(start_response, HTTPStatus.FORBIDDEN, "actions are disabled")
        if name not in actions.ACTIONS:
            return self._plain(start_response, HTTPStatus.NOT_FOUND, "no such action")
        origin = environ.get("HTTP_ORIGIN")
        # "null" is what a sandboxed frame, a data: URL or a file:// page sends: never the dashboard itself.
        if origin and (origin == "null" or not self._host_ok({"HTTP_HOST": urlsplit(origin).netloc})):
            log.warning("dashboard action %s refused: cross-origin request", name)
            return self._plain(start_response, HTTPStatus.FORBIDDEN, "cross-origin request refused")
        form = self._form(environ)
        if form is None:
            return self._plain(start_response, HTTPStatus.BAD_REQUEST, "expected a small url-encoded form")
        if not actions.token_ok(self.settings, form.get("token")):
            log.warning("dashboard action %s refused: bad token", name)
            page = pages.layout("Refused", "", '<p><a href="/">back</a></p>', message="bad token: nothing was done")
            return self._send(start_response, HTTPStatus.FORBIDDEN, page, "text/html; charset=utf-8")
        back = {"retry": "/documents", "revoke": "/", "run-job": "/jobs"}[name]
        with self.database.connection_context():
            code = actions.perform(name, self.settings, self.huey, form)
        start_response(
            "303 See Other", [("Location", f"{back}?done={quote(code)}"), ("Content-Length", "0")] + SECURITY_HEADERS
        )
        return [b""]

    @staticmethod
    def _form(environ: dict[str, Any]) -> dict[str, str] | None:
        ctype = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip()
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if ctype != "application/x-www-form-urlencoded" or not 0 < length <= MAX_FORM_BYTES:
            return None
        raw = environ["wsgi.input"].read(length).decode("utf-8", "replace")
        return {k: v[0] for k, v in parse_qs(raw).items()}

    def _plain(
        self, start_response: StartResponse, status: HTTPStatus, text: str, extra: list[tuple[str, str]] | None = None
    ) -> Iterable[bytes]:
        return self._send(start_response, status, text + "\n", "text/plain; charset=utf-8", extra)

    @staticmethod
    def _send(
        start_response: StartResponse,
        status: HTTPStatus,
        body: str,
        ctype: str,
        extra: list[tuple[str, str]] | None = None,
    ) -> Iterable[bytes]:
        payload = body.encode("utf-8")
        start_response(
            f"{status.value} {status.phrase}",
            [("Content-Type", ctype), ("Content-Length", str(len(payload)))] + SECURITY_HEADERS + (extra or []),
        )
        return [payload]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        # Paths only (query strings can carry action messages); at debug level.
        log.debug("%s %s", self.command, urlsplit(self.path).path)


def make_dashboard_server(app: DashboardApp, port: int) -> WSGIServer:
    """The HTTP server on 127.0.0.1:``port`` (0 = any free port, for tests)."""
    return make_server(HOST, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)


def serve_in_thread(app: DashboardApp, port: int = 0) -> tuple[WSGIServer, threading.Thread]:
    """Start a server in a daemon thread (tests, embedding); stop with ``server.shutdown()``."""
    server = make_dashboard_server(app, port)
    thread = threading.Thread(target=server.serve_forever, name="dashboard", daemon=True)
    thread.start()
    return server, thread
