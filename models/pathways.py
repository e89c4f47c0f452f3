"""Care pathways generated for a user, and the user's decisions on their steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

import peewee

from models.base import BaseModel, Json, UTCDateTimeField
from models.clock import utcnow
from models.users import User


class CarePathway(BaseModel):
    user = peewee.ForeignKeyField(User, backref="pathways", on_delete="CASCADE")
    if TYPE_CHECKING:
        user_id: peewee.ForeignKeyField[int]  # peewee's raw-id accessor, for the type checker
    condition = peewee.CharField(max_length=128, index=True)
    pathway = Json(default=dict)
    created_at = UTCDateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "care_pathways"
        indexes = ((("user", "created_at"), False),)


class PathwayDecision(BaseModel):
    pathway = peewee.ForeignKeyField(CarePathway, backref="decisions", on_delete="CASCADE")
    if TYPE_CHECKING:
        pathway_id: peewee.ForeignKeyField[int]  # peewee's raw-id accessor, for the type checker
    step = peewee.CharField(max_length=128)
    decision = Json(default=dict)
    decided_at = UTCDateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "pathway_decisions"
        indexes = ((("pathway", "step"), False),)
