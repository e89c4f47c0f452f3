"""Deliveries: claim a due row, POST it, record the outcome; rediscover what a lost task or a SIGKILL left.

A delivery is attempted only by the sender that wins a conditional UPDATE (the claim, until
``claimed_until``), so duplicate tasks — a retry scheduled by huey and the same row found by the
``webhook_deliveries`` job — send it once. The outcome is recorded after the POST; a SIGKILL between the two
leaves the claim to expire, and the row is sent again under the same ``webhook-id``: at least once, and more
than once only after such a crash. 2xx: delivered. 410 Gone: failed at once (the receiver asks to stop).
Anything else: retried with :mod:`backoff` until the event is a day old, then failed (shown by ``report``).
"""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass
from typing import Any

from models.clock import utcnow
from models.webhooks import DELIVERED, FAILED, PENDING, WebhookDelivery
from worker.config import Settings
from worker.periodic import JobContext
from worker.triggers import Triggers
from worker.webhooks import backoff, send, signing

log = logging.getLogger("mediflux.webhooks")
CLAIM_MARGIN = _dt.timedelta(seconds=5)
GONE = 410
REDISCOVER_LIMIT = 1000
TRIGGER_MARGIN = 1.0  # seconds after a claim ends: a task run a hair early would find it still held


@dataclass(frozen=True)
class Attempt:
    """What :func:`attempt` did: ``status`` of the row after it, and in how many seconds to try again."""

    status: str  # pending | delivered | failed | skipped (not due, claimed elsewhere, gone, or webhooks off)
    retry_in: float | None = None
    http_status: int | None = None
    error: str | None = None


def claim_lease(settings: Settings) -> _dt.timedelta:
    """How long a claim holds: the whole attempt's deadline plus a margin."""
    return _dt.timedelta(seconds=settings.webhook_timeout) + CLAIM_MARGIN


def claim(delivery_id: int, now: _dt.datetime, lease: _dt.timedelta) -> bool:
    """Take the attempt of a due, unclaimed pending delivery; True for exactly one caller."""
    free = WebhookDelivery.claimed_until.is_null() | (WebhookDelivery.claimed_until < now)
    count = (
        WebhookDelivery.update(claimed_until=now + lease)
        .where(
            (WebhookDelivery.id == delivery_id)
            & (WebhookDelivery.status == PENDING)
            & (WebhookDelivery.next_attempt_at <= now)
            & free
        )
        .execute()
    )
    return count == 1


def attempt(settings: Settings, delivery_id: int, now: _dt.datetime | None = None) -> Attempt:
    """Claim, POST and record one delivery (see module doc); safe to call from any number of tasks."""
    if not settings.webhook_url:
        return Attempt("skipped")
    now = now or utcnow()
    if not claim(delivery_id, now, claim_lease(settings)):
        return Attempt("skipped")
    row = WebhookDelivery.get_by_id(delivery_id)
    body = row.body.encode()
    headers = signing.headers(settings.webhook_secret, row.message_id, int(now.timestamp()), body)
    answer = send.post(
        settings.webhook_url,
        headers,
        body,
        timeout=settings.webhook_timeout,
        allow_private=settings.webhook_allow_private,
    )
    return _record(row, answer, utcnow())


def _record(row: WebhookDelivery, answer: send.Answer, now: _dt.datetime) -> Attempt:
    attempts = row.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_attempt_at": now,
        "last_status": answer.status,
        "last_error": answer.error,
        "claimed_until": None,
    }
    retry_in: float | None = None
    if answer.ok:
        outcome = DELIVERED
    elif answer.status == GONE or backoff.expired(row.created_at, now):
        outcome = FAILED
    else:
        outcome = PENDING
        retry_in = backoff.delay(attempts)
        values["next_attempt_at"] = now + _dt.timedelta(seconds=retry_in)
    if outcome != PENDING:
        values["finished_at"] = now
    WebhookDelivery.update(status=outcome, **values).where(WebhookDelivery.id == row.id).execute()
    if outcome == FAILED:
        log.warning("webhook delivery %d given up after %d attempts (%s)", row.id, attempts, answer.error)
    return Attempt(outcome, retry_in, answer.status, answer.error)


def give_up_expired(now: _dt.datetime) -> int:
    """Mark pending deliveries a day old as failed (none is attempted past that; webhooks turned off too)."""
    return (
        WebhookDelivery.update(status=FAILED, finished_at=now, last_error="expired", claimed_until=None)
        .where(
            (WebhookDelivery.status == PENDING)
            & (WebhookDelivery.created_at <= now - backoff.GIVE_UP_AFTER)
            & (WebhookDelivery.claimed_until.is_null() | (WebhookDelivery.claimed_until < now))
        )
        .execute()
    )


def due_within(now: _dt.datetime, horizon: _dt.timedelta) -> list[tuple[int, float]]:
    """Pending deliveries attemptable before ``now + horizon``: (id, seconds from now until then)."""
    until = now + horizon
    query = (
        WebhookDelivery.select(WebhookDelivery.id, WebhookDelivery.next_attempt_at, WebhookDelivery.claimed_until)
        .where(
            (WebhookDelivery.status == PENDING)
            & (WebhookDelivery.next_attempt_at <= until)
            & (WebhookDelivery.claimed_until.is_null() | (WebhookDelivery.claimed_until <= until))
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(REDISCOVER_LIMIT)
    )
    out = []
    for row in query:
        wait = (row.next_attempt_at - now).total_seconds()
        if row.claimed_until is not None and row.claimed_until > now:
            wait = max(wait, (row.claimed_until - now).total_seconds() + TRIGGER_MARGIN)
        out.append((row.id, max(0.0, wait)))
    return out


def rediscover(settings: Settings, triggers: Triggers, now: _dt.datetime | None = None) -> dict[str, int]:
    """Give up expired deliveries; trigger each one due within the next minute (at its due time). Duplicates
    of tasks already queued are harmless: the claim lets one send."""
    now = now or utcnow()
    given_up = give_up_expired(now)
    due = due_within(now, _dt.timedelta(minutes=1)) if settings.webhook_url else []
    for delivery_id, delay in due:
        triggers.deliver_webhook(delivery_id, delay)
    return {"triggered": len(due), "given_up": given_up}


def run(ctx: JobContext) -> dict[str, Any]:
    """The ``webhook_deliveries`` periodic job (every minute)."""
    return rediscover(ctx.settings, ctx.triggers, ctx.started_at)


def after_commit(triggers: Triggers, delivery_ids: list[int | None]) -> None:
    """Trigger the first attempt of deliveries just committed; a lost trigger is left to the job."""
    for delivery_id in delivery_ids:
        if delivery_id is None:
            continue
        try:
            triggers.deliver_webhook(delivery_id, 0.0)
        except Exception as exc:  # noqa: BLE001 — the row is committed; rediscovery sends it
            log.warning("webhook trigger failed: %s", type(exc).__name__)
