"""Download the official BDPM files: conditional requests, a size cap, timeouts, and refusal of what is not a file.

Each file is fetched from ``<base><name>`` into a staging folder, streamed to disk with its SHA-256 and
fsynced. ``If-None-Match`` / ``If-Modified-Since`` are sent only when the live copy of the file is on disk and
intact (so a 304 can be served from it). Refused, with the reason: an HTML page served with status 200 (the
site's error pages do that), a body over the cap, a body shorter than its ``Content-Length`` or cut by a
connection reset, any status but 200/304 (404 = the file is missing). Reasons name the file, never the URL.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

from models.private import private_dir
from worker.fsync import sync_dir

log = logging.getLogger("mediflux.bdpm")
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

USER_AGENT = "mediflux-worker (+https://mediflux.fr)"
MAX_FILE_BYTES = 256 * 1024 * 1024  # the largest official file is a few MB; a runaway body stops here
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0  # longest wait for the next chunk
FILE_DEADLINE = 300.0  # one file, all of it
ATTEMPTS = 2  # transient failures (5xx, 429, resets, timeouts) are retried once, after RETRY_PAUSE
RETRY_PAUSE = 1.0
CHUNK = 64 * 1024


class DownloadError(RuntimeError):
    """A file could not be downloaded as a whole; ``retryable`` for transient causes."""

    def __init__(self, name: str, reason: str, *, retryable: bool = False, missing: bool = False) -> None:
        self.name = name
        self.reason = reason
        self.retryable = retryable
        self.missing = missing
        super().__init__(f"{name}: {reason}")


@dataclass(frozen=True, slots=True)
class Validators:
    """What the server said about the copy we hold, and that copy's hash."""

    etag: str | None
    last_modified: str | None
    sha256: str


@dataclass(frozen=True, slots=True)
class Fetched:
    name: str
    status: Literal["fetched", "not_modified"]
    path: Path  # the new file in the staging folder, or the live copy on 304
    sha256: str
    size: int
    etag: str | None
    last_modified: str | None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:64].lower()
    return start.startswith(b"<")  # "<!DOCTYPE html>", "<html>", "<?xml": BDPM rows start with a code


def _stream(client: httpx.Client, name: str, url: str, headers: Mapping[str, str], dest: Path) -> httpx.Response:
    """One GET streamed into ``dest`` (temporary name, then renamed once complete and fsynced)."""
    deadline = time.monotonic() + FILE_DEADLINE
    tmp = dest.with_name(dest.name + ".part")
    try:
        return _receive(client, name, url, headers, dest, tmp, deadline)
    finally:
        tmp.unlink(missing_ok=True)


def _receive(
    client: httpx.Client, name: str, url: str, headers: Mapping[str, str], dest: Path, tmp: Path, deadline: float
) -> httpx.Response:
    with client.stream("GET", url, headers=dict(headers)) as resp:
        if resp.status_code != 200:
            return resp
        ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype in ("text/html", "application/xhtml+xml"):
            raise DownloadError(name, "the server answered an HTML page instead of the file")
        length = resp.headers.get("content-length", "")
        encoding = resp.headers.get("content-encoding", "").strip().lower()
        if length.isdigit() and int(length) > MAX_FILE_BYTES and encoding in ("", "identity"):
            raise DownloadError(name, f"larger than the {MAX_FILE_BYTES // (1 << 20)} MB cap")
        decoder = zlib.decompressobj(32 + zlib.MAX_WBITS) if encoding in ("gzip", "x-gzip", "deflate") else None
        if encoding not in ("", "identity") and decoder is None:
            raise DownloadError(name, "unsupported content-encoding")
        size, head = 0, b""
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600), "wb") as out:
            for raw in resp.iter_raw(CHUNK):
                if time.monotonic() > deadline:
                    raise DownloadError(name, "took longer than the download deadline", retryable=True)
                data = decoder.decompress(raw, MAX_FILE_BYTES - size + 1) if decoder else raw
                size += len(data)
                if size > MAX_FILE_BYTES:
                    raise DownloadError(name, f"larger than the {MAX_FILE_BYTES // (1 << 20)} MB cap")
                if len(head) < 64:
                    head += data[:64]
                    if len(head) >= 64 and _looks_like_html(head):
                        raise DownloadError(name, "the server answered an HTML page instead of the file")
                out.write(data)
            if decoder is not None:
                try:
                    tail = decoder.flush()
                except zlib.error:
                    raise DownloadError(name, "corrupt compressed body", retryable=True) from None
                if not decoder.eof:
                    raise DownloadError(name, "compressed body cut short", retryable=True)
                out.write(tail)
                size += len(tail)
            out.flush()
            os.fsync(out.fileno())
        if head and _looks_like_html(head):
            raise DownloadError(name, "the server answered an HTML page instead of the file")
        if size == 0:
            raise DownloadError(name, "the server answered an empty file")
        if length.isdigit() and decoder is None and size != int(length):
            raise DownloadError(name, f"cut short: {size} of {length} bytes", retryable=True)
        os.replace(tmp, dest)
        return resp


def fetch(
    client: httpx.Client,
    base_url: str,
    name: str,
    staging: Path,
    live: Path | None,
    validators: Validators | None,
    *,
    force: bool = False,
) -> Fetched:
    """Fetch ``name`` into ``staging``; with a 304 the live copy ``live`` stands. Raises :class:`DownloadError`."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"}
    usable = (
        not force
        and validators is not None
        and live is not None
        and live.is_file()
        and sha256_of(live) == validators.sha256
    )
    if usable and validators is not None:
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
    dest = staging / name
    for attempt in range(1, ATTEMPTS + 1):
        try:
            resp = _stream(client, name, base_url + name, headers, dest)
        except DownloadError as exc:
            if not exc.retryable or attempt == ATTEMPTS:
                raise
        except httpx.TimeoutException:
            if attempt == ATTEMPTS:
                raise DownloadError(name, "timed out", retryable=True) from None
        except (httpx.TransportError, httpx.StreamError) as exc:
            if attempt == ATTEMPTS:
                cut = isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError))
                reason = (
                    "connection reset or closed before the end" if cut else f"connection failed ({type(exc).__name__})"
                )
                raise DownloadError(name, reason, retryable=True) from None
        else:
            status = resp.status_code
            if status == 304 and usable and live is not None and validators is not None:
                return Fetched(
                    name,
                    "not_modified",
                    live,
                    validators.sha256,
                    live.stat().st_size,
                    validators.etag,
                    validators.last_modified,
                )
            if status == 200:
                return Fetched(
                    name,
                    "fetched",
                    dest,
                    sha256_of(dest),
                    dest.stat().st_size,
                    resp.headers.get("etag"),
                    resp.headers.get("last-modified"),
                )
            if status == 404:
                raise DownloadError(name, "not found (404)", missing=True)
            if status not in (429, 500, 502, 503, 504) or attempt == ATTEMPTS:
                raise DownloadError(name, f"HTTP {status}", retryable=status >= 500 or status == 429)
        log.info("bdpm download of %s failed, retrying", name)
        time.sleep(RETRY_PAUSE)
    raise AssertionError("unreachable")


def client(timeout: float = READ_TIMEOUT) -> httpx.Client:
    """The HTTP client for one sync: bounded connects and reads, redirects followed (the site uses them)."""
    return httpx.Client(
        timeout=httpx.Timeout(connect=CONNECT_TIMEOUT, read=timeout, write=timeout, pool=CONNECT_TIMEOUT),
        follow_redirects=True,
        max_redirects=5,
    )


def promote(fetched: Fetched, live_dir: Path) -> Path:
    """Move a fetched file from staging to the live folder (after its version went live); the live copy is
    replaced only by a complete, fsynced file (rename, then the folder is fsynced)."""
    target = live_dir / fetched.name
    if fetched.status == "not_modified":
        return target
    private_dir(live_dir)
    os.replace(fetched.path, target)
    sync_dir(live_dir)
    return target
