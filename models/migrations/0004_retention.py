"""Retention: users.legal_hold, the retention audit, erasure progress, session summaries, huey stats tables.

Models here are frozen copies. ``huey_event``/``huey_inflight`` mirror the tables
of ``huey.contrib.stats`` (the consumer writes them; retention prunes them): they
are created here so both backends have them before any consumer starts, and
``models`` still imports nothing of huey.
"""

import peewee
from peewee import BigIntegerField, BooleanField, CharField, DoubleField, ForeignKeyField, IntegerField, TextField

from models.base import Json, UTCDateTimeField
from models.clock import utcnow


def _models(db):
    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class User(Base):
        user_id = CharField(max_length=128, unique=True)

        class Meta:
            table_name = "users"

    class RetentionAudit(Base):
        category = CharField(max_length=32)
        cutoff = UTCDateTimeField(null=True)
        deleted_rows = BigIntegerField(default=0)
        deleted_files = BigIntegerField(default=0)
        freed_bytes = BigIntegerField(default=0)
        held_rows = BigIntegerField(default=0)
        complete = BooleanField(default=True)
        duration_ms = IntegerField(default=0)
        started_at = UTCDateTimeField(default=utcnow)

        class Meta:
            table_name = "retention_audit"
            indexes = ((("category", "started_at"), False),)

    class ErasureRequest(Base):
        user_key = CharField(max_length=64, unique=True)
        state = CharField(max_length=16, default="running", index=True)
        counts = Json(default=dict)
        attempts = IntegerField(default=0)
        last_error = TextField(null=True)
        requested_at = UTCDateTimeField(default=utcnow)
        updated_at = UTCDateTimeField(default=utcnow)
        finished_at = UTCDateTimeField(null=True)

        class Meta:
            table_name = "erasure_requests"

    class SessionSummary(Base):
        user = ForeignKeyField(User, unique=True, on_delete="CASCADE")
        sessions = BigIntegerField(default=0)
        intents = Json(default=dict)
        months = Json(default=dict)
        first_at = UTCDateTimeField(null=True)
        last_at = UTCDateTimeField(null=True)
        updated_at = UTCDateTimeField(default=utcnow)

        class Meta:
            table_name = "session_summaries"

    class HueyEvent(Base):  # huey.contrib.stats.HueyEvent
        ts = DoubleField(index=True)
        queue = CharField(index=True)
        task_id = CharField()
        task = CharField(index=True)
        signal = CharField()
        duration = DoubleField(null=True)
        error = TextField(null=True)
        args = TextField(null=True)

        class Meta:
            table_name = "huey_event"
            legacy_table_names = True

    class HueyInflight(Base):  # huey.contrib.stats.HueyInflight
        task_id = CharField(primary_key=True)
        queue = CharField(index=True)
        task = CharField()
        started = DoubleField()

        class Meta:
            table_name = "huey_inflight"
            legacy_table_names = True

    return [RetentionAudit, ErasureRequest, SessionSummary, HueyEvent, HueyInflight]


def up(migrator, db):
    migrator.migrate(migrator.add_column("users", "legal_hold", BooleanField(default=False)))
    db.create_tables(_models(db))


def down(migrator, db):
    db.drop_tables(list(reversed(_models(db))))
    migrator.migrate(migrator.drop_column("users", "legal_hold"))
