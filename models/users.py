"""Users (JSON profile) and their query sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import peewee

from models.base import BaseModel, Json, UTCDateTimeField
from models.clock import utcnow
from models.json_paths import declare_json_index


class User(BaseModel):
    """An app user. ``profile`` holds mutuelle, location, pathology, preferences..."""

    user_id = peewee.CharField(max_length=128, unique=True)
    profile = Json(default=dict)
    legal_hold = peewee.BooleanField(default=False)  # retention prunes nothing of a held user
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "users"


class QuerySession(BaseModel):
    """One query a user made in the app (query log): text, detected intent, result."""

    user = peewee.ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    if TYPE_CHECKING:
        user_id: peewee.ForeignKeyField[int]  # peewee's raw-id accessor, for the type checker
    query_text = peewee.TextField()
    intent = peewee.CharField(max_length=64, null=True)
    result = Json(null=True)
    created_at = UTCDateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "sessions"
        indexes = ((("user", "created_at"), False), (("intent", "created_at"), False))


declare_json_index(User.profile, "mutuelle")
declare_json_index(User.profile, "pathology")
declare_json_index(User.profile, "location", "department")
declare_json_index(User.profile, "location", "postcode")
