"""The access log: who read which user's data, why, and when — never the data, never the user id in clear.

Append-only: rows are inserted by :mod:`worker.access` and removed only by retention pruning
(``access_log`` policy, 6 months by default). A database trigger refuses every UPDATE, so a trace
cannot be rewritten after the fact (migration 0008), but one: an erasure replaces an actor that was the erased
person's id by ``erased:<key>`` (migration 0016). ``user_key`` is the HMAC key of the user id
(:func:`worker.userkeys.user_key`), which cannot be turned back into the id without the deployment's secret.
"""

from __future__ import annotations

import peewee

from models.base import BaseModel, UTCDateTimeField
from models.clock import utcnow

ERASED_ACTOR_PREFIX = "erased:"  # an actor who was a person, erased since (the only UPDATE the trigger allows)


class AccessLog(BaseModel):
    """One read or export of one user's data: actor, purpose, resource kind, channel, user key, time (UTC)."""

    at = UTCDateTimeField(default=utcnow, index=True)
    user_key = peewee.CharField(max_length=64)
    actor = peewee.CharField(max_length=64)  # who: "app", "self", "operator", a staff account name…
    purpose = peewee.CharField(max_length=64)  # why: "service", "support", "right_of_access", "erasure"…
    resource = peewee.CharField(max_length=32)  # what kind: profile, queries, pathways, documents, export…
    channel = peewee.CharField(max_length=16)  # through what: api, cli, dashboard, erasure

    class Meta:
        table_name = "access_log"
        indexes = ((("user_key", "at"), False),)
