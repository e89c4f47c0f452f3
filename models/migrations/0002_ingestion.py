"""Ingestion: the ``ingest_duplicates`` table (content that landed again; no second document row).

Frozen model copy, like 0001: the migration must not change when the application models do.
"""

import peewee
from peewee import ForeignKeyField

from models.base import UTCDateTimeField
from models.clock import utcnow


def _models(db):
    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Document(Base):
        class Meta:
            table_name = "documents"

    class IngestDuplicate(Base):
        document = ForeignKeyField(Document, on_delete="CASCADE")
        seen_at = UTCDateTimeField(default=utcnow, index=True)

        class Meta:
            table_name = "ingest_duplicates"

    return IngestDuplicate


def up(migrator, db):
    db.create_tables([_models(db)])


def down(migrator, db):
    db.drop_tables([_models(db)])
