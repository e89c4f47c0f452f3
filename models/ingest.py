"""Ingestion bookkeeping: content that landed again after its document was stored."""

from __future__ import annotations

from typing import TYPE_CHECKING

import peewee

from models.base import BaseModel, UTCDateTimeField
from models.clock import utcnow
from models.documents import Document


class IngestDuplicate(BaseModel):
    """One re-landing of content already stored for the same owner (same SHA-256): no second document, a trace."""

    document = peewee.ForeignKeyField(Document, backref="duplicates", on_delete="CASCADE")
    if TYPE_CHECKING:
        document_id: peewee.ForeignKeyField[int]  # peewee's raw-id accessor, for the type checker
    seen_at = UTCDateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "ingest_duplicates"
