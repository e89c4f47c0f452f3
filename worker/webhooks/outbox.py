"""``enqueue``: the outbox write, in the transaction that sets a submission's final state.

Call it where a submission reaches ``analysed``, ``duplicate`` or ``rejected``, inside that transaction: the
delivery row commits with the state or not at all, so no webhook announces a state that was rolled back and no
final state goes unannounced. After the commit, ``triggers.deliver_webhook(id)`` sends it at once; if that
trigger is lost, the ``webhook_deliveries`` job finds the row. Calling it twice for one (submission, state)
writes one row (idempotent), so a re-run transaction repeats nothing.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import peewee

from models.clock import utcnow
from models.webhooks import WebhookDelivery

FINAL_STATES = ("analysed", "duplicate", "rejected")
EVENT_TYPE = "submission.{state}"


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
    enabled: bool = True,
) -> int | None:
    """Insert the delivery of this final state on ``db`` (in the caller's transaction); its id, or None when
    ``enabled`` is False (no ``MEDIFLUX_WEBHOOK_URL``) or the row already exists."""
    if state not in FINAL_STATES:
        raise NotFinal(f"not a final state: {state!r}")
    if not enabled:
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
    return int(rows[0][0] if isinstance(rows[0], tuple) else rows[0].id) if rows else None
