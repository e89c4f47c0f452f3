"""Submissions: the ledger of what the app (or a hand drop into the inbox) submitted and where it is now.

A frozen copy of the model (``models/submissions.py``) at this migration; the partial unique index makes
``submit_document`` idempotent per (user, SHA-256) across processes, on SQLite and PostgreSQL alike.
"""

import peewee
from peewee import BigIntegerField, CharField, ForeignKeyField, TextField

from models.base import UTCDateTimeField
from models.clock import utcnow

UNIQUE = "submissions_app_user_sha256"


def _models(db):
    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Document(Base):
        class Meta:
            table_name = "documents"

    class Submission(Base):
        id = CharField(max_length=32, primary_key=True)
        user_id = CharField(max_length=128, null=True)
        origin = CharField(max_length=8, default="app")
        filename = TextField(null=True)
        declared_type = CharField(max_length=128, null=True)
        sniffed_type = CharField(max_length=16, null=True)
        sha256 = CharField(max_length=64, null=True)
        size = BigIntegerField(null=True)
        inbox_path = TextField(null=True)
        state = CharField(max_length=16, default="received")
        reason = CharField(max_length=32, null=True)
        document = ForeignKeyField(Document, null=True, on_delete="SET NULL")
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

    return Submission


def up(migrator, db):
    db.create_tables([_models(db)])
    db.execute_sql(f"CREATE UNIQUE INDEX IF NOT EXISTS {UNIQUE} ON submissions (user_id, sha256) WHERE origin = 'app'")


def down(migrator, db):
    db.execute_sql(f"DROP INDEX IF EXISTS {UNIQUE}")
    db.drop_tables([_models(db)])
