"""Ingested OCR documents: stored once per owner and content hash, with their analysis."""

from __future__ import annotations

from typing import TYPE_CHECKING

import peewee

from models.base import BaseModel, Json, UTCDateTimeField
from models.clock import utcnow
from models.json_paths import declare_json_index
from models.users import User


class Document(BaseModel):
    """One landed OCR result. (``user``, ``sha256`` of the file's bytes) is the idempotency key (migration 0006).

    The same bytes from two users are two documents; documents without a user are unique per ``sha256``
    (a partial index: NULLs never collide in a unique index).
    """

    user = peewee.ForeignKeyField(User, backref="documents", null=True, on_delete="CASCADE")
    if TYPE_CHECKING:
        user_id: peewee.ForeignKeyField[int | None]  # peewee's raw-id accessor, for the type checker
    original_filename = peewee.TextField()
    sha256 = peewee.CharField(max_length=64)
    format = peewee.CharField(max_length=32)
    pages = Json(default=list)  # [{"number", "text", "confidence", "words"}]
    text = peewee.TextField(default="")
    meta = Json(default=dict)  # engine, sizes, timings
    analysis = Json(null=True)
    status = peewee.CharField(max_length=32, default="ingested", index=True)
    created_at = UTCDateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "documents"
        indexes = ((("user", "created_at"), False), (("sha256", "user"), True))


Document.add_index(
    peewee.ModelIndex(
        Document, (Document.sha256,), unique=True, where=Document.user.is_null(), name="documents_sha256_no_user"
    )
)
declare_json_index(Document.analysis, "document_type")
