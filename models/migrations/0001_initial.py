"""Initial schema: users, sessions, api_cache, documents, care pathways, decisions, job ledger.

Models here are frozen copies (a migration must not change when the application
models do). JSON-path indexes come from models.json_paths so queries and DDL match.
"""

import peewee
from peewee import BigIntegerField, BooleanField, CharField, ForeignKeyField, IntegerField, TextField

from models.base import Json, UTCDateTimeField, is_postgres
from models.clock import utcnow
from models.json_paths import index_sql

TABLES = (
    "users",
    "sessions",
    "api_cache",
    "documents",
    "care_pathways",
    "pathway_decisions",
    "periodic_jobs",
    "job_runs",
    "leases",
)
JSON_INDEXES = (
    ("users", "profile", ("mutuelle",)),
    ("users", "profile", ("pathology",)),
    ("documents", "analysis", ("document_type",)),
)


def _models(db):
    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class User(Base):
        user_id = CharField(max_length=128, unique=True)
        profile = Json(default=dict)
        created_at = UTCDateTimeField(default=utcnow)
        updated_at = UTCDateTimeField(default=utcnow, index=True)

        class Meta:
            table_name = "users"

    class QuerySession(Base):
        user = ForeignKeyField(User, on_delete="CASCADE")
        query_text = TextField()
        intent = CharField(max_length=64, null=True)
        result = Json(null=True)
        created_at = UTCDateTimeField(default=utcnow, index=True)

        class Meta:
            table_name = "sessions"
            indexes = ((("user", "created_at"), False), (("intent", "created_at"), False))

    class ApiCache(Base):
        source = CharField(max_length=32)
        endpoint = CharField(max_length=255)
        params_hash = CharField(max_length=64)
        params = Json(default=dict)
        response = Json(null=True)
        status_code = IntegerField(null=True)
        etag = CharField(max_length=512, null=True)
        last_modified = CharField(max_length=64, null=True)
        fetched_at = UTCDateTimeField(null=True)
        fresh_until = UTCDateTimeField(null=True, index=True)
        stale_until = UTCDateTimeField(null=True, index=True)
        last_read_at = UTCDateTimeField(null=True)
        hits = BigIntegerField(default=0)
        error_count = IntegerField(default=0)
        last_error = TextField(null=True)
        last_error_at = UTCDateTimeField(null=True)
        created_at = UTCDateTimeField(default=utcnow)

        class Meta:
            table_name = "api_cache"
            indexes = ((("source", "endpoint", "params_hash"), True),)

    class Document(Base):
        user = ForeignKeyField(User, null=True, on_delete="CASCADE")
        original_filename = TextField()
        sha256 = CharField(max_length=64, unique=True)
        format = CharField(max_length=32)
        pages = Json(default=list)
        text = TextField(default="")
        meta = Json(default=dict)
        analysis = Json(null=True)
        status = CharField(max_length=32, default="ingested", index=True)
        created_at = UTCDateTimeField(default=utcnow, index=True)

        class Meta:
            table_name = "documents"
            indexes = ((("user", "created_at"), False),)

    class CarePathway(Base):
        user = ForeignKeyField(User, on_delete="CASCADE")
        condition = CharField(max_length=128, index=True)
        pathway = Json(default=dict)
        created_at = UTCDateTimeField(default=utcnow, index=True)

        class Meta:
            table_name = "care_pathways"
            indexes = ((("user", "created_at"), False),)

    class PathwayDecision(Base):
        pathway = ForeignKeyField(CarePathway, on_delete="CASCADE")
        step = CharField(max_length=128)
        decision = Json(default=dict)
        decided_at = UTCDateTimeField(default=utcnow, index=True)

        class Meta:
            table_name = "pathway_decisions"
            indexes = ((("pathway", "step"), False),)

    class PeriodicJob(Base):
        name = CharField(max_length=64, unique=True)
        interval_seconds = IntegerField()
        next_due_at = UTCDateTimeField(index=True)
        claimed_until = UTCDateTimeField(null=True)
        claimed_by = CharField(max_length=128, null=True)
        last_started_at = UTCDateTimeField(null=True)
        last_finished_at = UTCDateTimeField(null=True)
        last_success_at = UTCDateTimeField(null=True)
        last_duration_ms = IntegerField(null=True)
        last_error = TextField(null=True)
        consecutive_failures = IntegerField(default=0)
        state = Json(default=dict)

        class Meta:
            table_name = "periodic_jobs"

    class JobRun(Base):
        job = CharField(max_length=64)
        started_at = UTCDateTimeField()
        finished_at = UTCDateTimeField(null=True)
        duration_ms = IntegerField(null=True)
        ok = BooleanField(default=False)
        error = TextField(null=True)
        summary = Json(default=dict)

        class Meta:
            table_name = "job_runs"
            indexes = ((("job", "started_at"), False),)

    class Lease(Base):
        name = CharField(max_length=255, unique=True)
        holder = CharField(max_length=128)
        acquired_at = UTCDateTimeField()
        expires_at = UTCDateTimeField(index=True)

        class Meta:
            table_name = "leases"

    return [User, QuerySession, ApiCache, Document, CarePathway, PathwayDecision, PeriodicJob, JobRun, Lease]


def up(migrator, db):
    db.create_tables(_models(db))
    for table, column, keys in JSON_INDEXES:
        db.execute_sql(index_sql(table, column, keys, postgres=is_postgres(db)))


def down(migrator, db):
    db.drop_tables(list(reversed(_models(db))))
