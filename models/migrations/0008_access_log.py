"""The access log (table ``access_log``): who read which user's data, why, when; append-only.

The model is a frozen copy. A trigger refuses UPDATE on both backends (a trace is never rewritten);
rows leave only through retention pruning (DELETE by age).
"""

import peewee
from peewee import CharField

from models.base import UTCDateTimeField, is_postgres
from models.clock import utcnow

TRIGGER = "access_log_append_only"
MESSAGE = "access_log is append-only"


def _model(db):
    class AccessLog(peewee.Model):
        at = UTCDateTimeField(default=utcnow, index=True)
        user_key = CharField(max_length=64)
        actor = CharField(max_length=64)
        purpose = CharField(max_length=64)
        resource = CharField(max_length=32)
        channel = CharField(max_length=16)

        class Meta:
            database = db
            table_name = "access_log"
            indexes = ((("user_key", "at"), False),)

    return AccessLog


def up(migrator, db):
    db.create_tables([_model(db)])
    if is_postgres(db):
        db.execute_sql(
            f"CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
        )
        db.execute_sql(
            f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE ON access_log FOR EACH ROW EXECUTE FUNCTION {TRIGGER}()"
        )
    else:
        db.execute_sql(
            f"CREATE TRIGGER IF NOT EXISTS {TRIGGER} BEFORE UPDATE ON access_log "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )


def down(migrator, db):
    db.execute_sql(f"DROP TRIGGER IF EXISTS {TRIGGER}" + (" ON access_log" if is_postgres(db) else ""))
    if is_postgres(db):
        db.execute_sql(f"DROP FUNCTION IF EXISTS {TRIGGER}()")
    db.drop_tables([_model(db)])
