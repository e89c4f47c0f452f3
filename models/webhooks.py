"""Webhook deliveries: the outbox ledger of the POSTs announcing a submission's final state.

A row is written in the transaction that sets the final state (so an announced state is a committed one), then a
task sends it. The row, not the queue, says what is left to send: ``pending`` rows are rediscovered after a lost
task or a SIGKILL, and a claim (``claimed_until``) lets one sender at a time attempt it. No user id, no file name,
no document text: the body holds the submission id, the state, a reason code and the document id only.
"""

from __future__ import annotations

import peewee

from models.base import BaseModel, UTCDateTimeField

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class WebhookDelivery(BaseModel):
    """One event to POST; ``message_id`` is its ``webhook-id`` on every attempt (receivers dedup on it)."""

    message_id = peewee.CharField(max_length=64, unique=True)
    submission_id = peewee.CharField(max_length=64)
    event = peewee.CharField(max_length=32)  # the final state announced
    body = peewee.TextField()  # the exact JSON sent (fixed at enqueue: every attempt signs the same bytes)
    status = peewee.CharField(max_length=16, default=PENDING)  # pending | delivered | failed
    attempts = peewee.IntegerField(default=0)
    created_at = UTCDateTimeField()
    next_attempt_at = UTCDateTimeField()
    claimed_until = UTCDateTimeField(null=True)
    last_attempt_at = UTCDateTimeField(null=True)
    last_status = peewee.IntegerField(null=True)  # HTTP status of the last answer, None when none came
    last_error = peewee.CharField(max_length=64, null=True)  # a short code (timeout, refused_address…), no detail
    finished_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "webhook_deliveries"
        indexes = (
            (("submission_id", "event"), True),
            (("status", "next_attempt_at"), False),
            (("finished_at",), False),
        )
