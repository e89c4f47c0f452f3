"""Retention ledger: audit of each prune, erasure requests (by hash), per-user session summaries.

None of these rows holds personal data beyond what the user's own rows hold:
the audit has counts and cutoffs only; an erasure request names the user by a
SHA-256 key (never the id), so it can outlive the erasure as its proof.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import peewee

from models.base import BaseModel, Json, UTCDateTimeField
from models.clock import utcnow
from models.users import User


class RetentionAudit(BaseModel):
    """One category of one real prune run: what was cut, up to when, how long it took."""

    category = peewee.CharField(max_length=32)
    cutoff = UTCDateTimeField(null=True)
    deleted_rows = peewee.BigIntegerField(default=0)
    deleted_files = peewee.BigIntegerField(default=0)
    freed_bytes = peewee.BigIntegerField(default=0)
    held_rows = peewee.BigIntegerField(default=0)  # kept because their user is under legal hold
    complete = peewee.BooleanField(default=True)  # False when the run's time budget ran out
    duration_ms = peewee.IntegerField(default=0)
    started_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "retention_audit"
        indexes = ((("category", "started_at"), False),)


class ErasureRequest(BaseModel):
    """Progress of one user's erasure; ``user_key`` = the user's key (``worker.userkeys``; the id itself is erased).

    ``key_scheme``: ``hmac`` (under the deployment's secret) or ``sha256`` (rows from before migration 0010,
    rewrapped by the worker).
    """

    user_key = peewee.CharField(max_length=64, unique=True)
    state = peewee.CharField(max_length=16, default="running", index=True)  # running, flush_pending, done
    counts = Json(default=dict)
    attempts = peewee.IntegerField(default=0)
    last_error = peewee.TextField(null=True)
    requested_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)
    finished_at = UTCDateTimeField(null=True)
    key_scheme = peewee.CharField(max_length=16, default="hmac")

    class Meta:
        table_name = "erasure_requests"


class SessionSummary(BaseModel):
    """What is left of a user's pruned sessions: counts per intent and per month, no query text."""

    user = peewee.ForeignKeyField(User, backref="session_summary", unique=True, on_delete="CASCADE")
    if TYPE_CHECKING:
        user_id: peewee.ForeignKeyField[int]  # peewee's raw-id accessor, for the type checker
    sessions = peewee.BigIntegerField(default=0)
    intents = Json(default=dict)  # {"intent": count}
    months = Json(default=dict)  # {"YYYY-MM": count}
    first_at = UTCDateTimeField(null=True)
    last_at = UTCDateTimeField(null=True)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "session_summaries"
