"""Fetching one cache entry from upstream: paging, retries, backoff, rate limit, validation.

The logic is written once as a generator that *yields* actions (``("sleep", seconds)``,
``("send", request, extra_headers)``) and receives answers; :func:`run` drives it with a
sync httpx client and :func:`run_async` with an async one. So the sync and async read
paths share every rule and differ only in how they wait and send.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import email.utils
import json
import random
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import httpx

from worker.cache import ratelimit, transport
from worker.cache.errors import InvalidAnswer, UpstreamError
from worker.cache.policy import SourcePolicy
from worker.upstreams import Adapter, HttpRequest

MAX_ATTEMPTS = 3
BACKOFF_BASE = 0.25  # seconds; doubled per attempt, full jitter
BACKOFF_MAX = 8.0
RETRY_STATUSES = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class Fetched:
    """What a fetch brings back: new data, a 404/empty (negative) answer, or "not modified"."""

    data: Any
    status: int
    etag: str | None
    last_modified: str | None
    negative: bool
    not_modified: bool = False


Plan = Generator[tuple, Any, Fetched]
T = TypeVar("T")


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def interpret(adapter: Adapter, endpoint: str, answer: transport.RawAnswer) -> tuple[str, Any]:
    """Check status, content type, JSON and shape: ``("ok", doc)``, ``("not_modified", None)`` or
    ``("not_found", None)``; anything else raises (retryable for 429/5xx)."""
    status = answer.status
    if status == 304:
        return "not_modified", None
    if status == 404 and adapter.negative_on_404(endpoint):
        return "not_found", None
    if status in RETRY_STATUSES:
        raise UpstreamError(
            f"HTTP {status}", retryable=True, retry_after=retry_after_seconds(answer.headers.get("retry-after"))
        )
    if status != 200:
        raise UpstreamError(f"HTTP {status}")
    ctype = answer.headers.get("content-type", "").split(";")[0].strip().lower()
    if not (ctype.endswith(("/json", "+json"))):
        raise InvalidAnswer(f"unexpected content type {ctype[:40] or '(none)'!r}")
    try:
        doc = json.loads(answer.body)
    except ValueError:
        raise InvalidAnswer("invalid JSON (truncated or corrupt body)") from None
    return "ok", adapter.validate(endpoint, doc)


def _backoff(attempt: int, rng: random.Random) -> float:
    return rng.uniform(0, min(BACKOFF_MAX, BACKOFF_BASE * 2**attempt))


def _exchange(
    adapter: Adapter,
    policy: SourcePolicy,
    endpoint: str,
    req: HttpRequest,
    extra: dict[str, str],
    deadline: float,
    rng: random.Random,
) -> Generator[tuple, Any, tuple[str, Any, httpx.Headers]]:
    """One request with rate limiting and retries; returns ``interpret``'s verdict and the headers."""
    attempt = 0
    while True:
        wait = ratelimit.reserve(policy.source, policy.rate)
        if time.monotonic() + wait >= deadline:
            raise UpstreamError("rate limit: no slot before the deadline", retryable=True)
        if wait > 0:
            yield ("sleep", wait)
        try:
            answer = yield ("send", req, extra, deadline, policy.max_body)
            verdict, doc = interpret(adapter, endpoint, answer)
            return verdict, doc, answer.headers
        except UpstreamError as exc:
            if exc.retry_after:
                ratelimit.penalize(policy.source, exc.retry_after, policy.rate)  # every process backs off, not just us
            attempt += 1
            if not exc.retryable or attempt >= MAX_ATTEMPTS:
                raise
            delay = exc.retry_after if exc.retry_after is not None else _backoff(attempt, rng)
            if time.monotonic() + delay >= deadline:
                raise
            yield ("sleep", delay)


def plan(
    policy: SourcePolicy,
    endpoint: str,
    params: dict[str, Any],
    etag: str | None = None,
    last_modified: str | None = None,
    rng: random.Random | None = None,
) -> Plan:
    """The whole fetch of one entry (all pages, up to ``policy.page_cap``) within one total deadline of
    ``policy.timeout``; the source's secret header rides on the first request (and paging copies it)."""
    rng = rng or random.Random()
    deadline = time.monotonic() + policy.timeout
    adapter, page_cap = policy.adapter, policy.page_cap
    first = adapter.build(policy.base_url, endpoint, params)
    if policy.secret_headers:
        first = replace(first, secret_headers=dict(policy.secret_headers))
    conditional = {}
    if etag:
        conditional["If-None-Match"] = etag
    if last_modified:
        conditional["If-Modified-Since"] = last_modified
    validators: dict[str, str] = {}
    pages: list[Any] = []
    req: HttpRequest | None = first
    while req is not None and len(pages) < page_cap:
        verdict, doc, headers = yield from _exchange(
            adapter, policy, endpoint, req, conditional if not pages else {}, deadline, rng
        )
        if verdict == "not_modified":
            if pages:
                raise InvalidAnswer("304 on a later page")
            return Fetched(None, 304, etag, last_modified, negative=False, not_modified=True)
        if verdict == "not_found":
            return Fetched(None, 404, None, None, negative=True)
        if not pages:  # validators of the first page stand for the whole answer
            validators = {k: headers[k][:512] for k in ("etag", "last-modified") if k in headers}
        pages.append(doc)
        req = adapter.next_request(first, doc)
    data = adapter.merge(pages)
    return Fetched(
        data, 200, validators.get("etag"), validators.get("last-modified"), negative=adapter.is_empty(endpoint, data)
    )


_DONE = object()


def _advance(p: Generator[tuple, Any, Any], result: Any, error: UpstreamError | None) -> tuple[Any, Any]:
    """Feed the last outcome to the plan: (next action, _DONE) or (_DONE, the plan's return value)."""
    try:
        return (p.throw(error) if error else p.send(result)), _DONE
    except StopIteration as stop:
        return _DONE, stop.value


def run(p: Generator[tuple, Any, T], client: httpx.Client, sleep: Callable[[float], None] = time.sleep) -> T:
    """Drive a plan (or any generator built on plans) with a sync client."""
    result, error = None, None
    while True:
        action, value = _advance(p, result, error)
        if action is _DONE:
            return value
        result, error = None, None
        if action[0] == "sleep":
            sleep(action[1])
        else:
            try:
                result = transport.send(client, *action[1:])
            except UpstreamError as exc:
                error = exc


async def run_async(p: Generator[tuple, Any, T], client: httpx.AsyncClient) -> T:
    """Drive a plan with an async client (sleeps are asyncio sleeps)."""
    result, error = None, None
    while True:
        action, value = _advance(p, result, error)
        if action is _DONE:
            return value
        result, error = None, None
        if action[0] == "sleep":
            await asyncio.sleep(action[1])
        else:
            try:
                result = await transport.send_async(client, *action[1:])
            except UpstreamError as exc:
                error = exc
