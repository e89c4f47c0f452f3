"""Submissions: the app's receipt for a document, from the file landing to its final state (issue 18).

One row per landing of a file for a user — through ``submit_document`` (``origin`` ``app``) or dropped into the
inbox by hand (``inbox``) — so the app and the operator see one history. The row's ``state`` changes in the
transaction that does the work (ingestion, quarantine, analysis), never before nor after it. ``id`` is opaque
(random, not an autoincrement: an id tells nothing and cannot be guessed). ``user_id`` is the user id text, not a
foreign key: a submission exists before ingestion creates the user row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import peewee

from models.base import BaseModel, UTCDateTimeField
from models.clock import utcnow
from models.documents import Document

RECEIVED, OCR, INGESTED = "received", "ocr", "ingested"
ANALYSED, DUPLICATE, REJECTED = "analysed", "duplicate", "rejected"
STATES = (RECEIVED, OCR, INGESTED, ANALYSED, DUPLICATE, REJECTED)
PENDING = (RECEIVED, OCR)  # nothing stored yet
FINAL = (ANALYSED, DUPLICATE, REJECTED)


class Submission(BaseModel):
    id = peewee.CharField(max_length=32, primary_key=True)  # type: ignore[assignment]  # opaque text key
    user_id = peewee.CharField(max_length=128, null=True)
    origin = peewee.CharField(max_length=8, default="app")  # app | inbox
    filename = peewee.TextField(null=True)  # as the app named it (printable), never logged
    declared_type = peewee.CharField(max_length=128, null=True)
    sniffed_type = peewee.CharField(max_length=16, null=True)
    sha256 = peewee.CharField(max_length=64, null=True)
    size = peewee.BigIntegerField(null=True)
    inbox_path = peewee.TextField(null=True)  # relative to the inbox, where the file landed
    state = peewee.CharField(max_length=16, default=RECEIVED)
    reason = peewee.CharField(max_length=32, null=True)  # quarantine reason (internal code)
    document = peewee.ForeignKeyField(Document, null=True, on_delete="SET NULL", backref="submissions")
    if TYPE_CHECKING:
        document_id: peewee.ForeignKeyField[int | None]
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)
    finished_at = UTCDateTimeField(null=True)

    class Meta:
        table_name = "submissions"
        indexes = (
            (("user_id", "created_at"), False),
            (("user_id", "sha256"), False),
            (("state", "updated_at"), False),
            (("inbox_path",), False),
            (("document",), False),
        )


# Idempotency of ``submit_document`` per (user, SHA-256): two concurrent submits of the same bytes insert once; a
# rejected submission leaves the index, so the same bytes may be sent again after a rejection a retry can cure
# (migration 0017).
Submission.add_index(
    peewee.ModelIndex(
        Submission,
        (Submission.user_id, Submission.sha256),
        unique=True,
        where=(Submission.origin == "app") & (Submission.state != REJECTED),
        name="submissions_app_user_sha256",
    )
)
