"""``enqueue``: the outbox write, in the transaction that sets a submission's final state.

Call it where a submission reaches ``analysed``, ``duplicate`` or ``rejected``, inside that transaction: the
delivery row commits with the state or not at all, so no webhook announces a state that was rolled back and no
final state goes unannounced. Calling it twice for one (submission, state) writes one row (idempotent), so a
re-run transaction repeats nothing.

The composition root (:mod:`worker.runtime`) calls :func:`configure` with the settings and triggers: with no
``MEDIFLUX_WEBHOOK_URL`` nothing is written; otherwise each row also triggers its first attempt a moment later
(:data:`FIRST_ATTEMPT_DELAY`, once the caller has committed — an attempt that comes too early finds no
committed row and leaves it to the ``webhook_deliveries`` job, which finds every pending row each minute).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import peewee

from models.clock import utcnow
from models.webhooks import WebhookDelivery
from worker.config import Settings
from worker.triggers import NO_QUEUE, Triggers

FINAL_STATES = ("analysed", "duplicate", "rejected")
EVENT_TYPE = "submission.{state}"
FIRST_ATTEMPT_DELAY = 1.0  # seconds: lets the caller's transaction commit first
_configured: dict[str, Any] = {"enabled": False, "triggers": NO_QUEUE}


def configure(settings: Settings, triggers: Triggers) -> None:
    """Called by the composition root: write deliveries only when a webhook URL is set; trigger them here."""
    _configured.update(enabled=bool(settings.webhook_url), triggers=triggers)


class NotFinal(ValueError):
    """Only final states are announced."""


def payload(submission_id: str, state: str, reason: str | None, document_id: int | None, at: str) -> dict[str, Any]:
    """The Standard Webhooks envelope (type, timestamp, data): ids, state and reason code only — never text,
    names or file names."""
    return {
        "type": EVENT_TYPE.format(state=state),
        "timestamp": at,
        "data": {"submission_id": submission_id, "state": state, "reason": reason, "document_id": document_id},
    }


def enqueue(
    db: peewee.Database,
    submission_id: str,
    state: str,
    reason: str | None = None,
    document_id: int | None = None,
    *,
    enabled: bool | None = None,
) -> int | None:
    """Insert the delivery of this final state on ``db`` (in the caller's transaction); its id, or None when
    webhooks are off (``enabled``, by default as :func:`configure` said) or the row already exists."""
    if state not in FINAL_STATES:
        raise NotFinal(f"not a final state: {state!r}")
    if not (_configured["enabled"] if enabled is None else enabled):
        return None
    now = utcnow()
    body = json.dumps(
        payload(str(submission_id), state, reason, document_id, now.isoformat().replace("+00:00", "Z")),
        separators=(",", ":"),
        sort_keys=True,
    )
    query = (
        WebhookDelivery.insert(
            message_id="msg_" + secrets.token_hex(16),
            submission_id=str(submission_id),
            event=state,
            body=body,
            created_at=now,
            next_attempt_at=now,
        )
        .on_conflict_ignore()
        .returning(WebhookDelivery.id)
    )
    rows = list(query.execute(db))
    if not rows:
        return None
    delivery_id = int(rows[0][0] if isinstance(rows[0], tuple) else rows[0].id)
    try:
        _configured["triggers"].deliver_webhook(delivery_id, FIRST_ATTEMPT_DELAY)
    except Exception:  # noqa: BLE001 — the row is the ledger: the webhook_deliveries job sends it anyway
        pass
    return delivery_id
