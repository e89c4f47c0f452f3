"""The access log's one allowed update: an erasure pseudonymises the rows where the erased person was the *actor*.

A trace names its subject by key only, but its actor is a label chosen by the caller, and that label may be a
person's user id (a carer reading a relative's profile, ``actor="carer.dupont@example.com"``). After that
person's erasure their id must be gone from every file, so the erasure rewrites such an actor to
``erased:<key>`` (:data:`models.access.ERASED_ACTOR_PREFIX`). The append-only trigger of 0008 is replaced by
one that allows exactly that change — actor to an ``erased:`` value, from a value that was not one, every other
column unchanged — and refuses every other UPDATE as before.
"""

from models.base import is_postgres

TRIGGER = "access_log_append_only"
MESSAGE = "access_log is append-only"
_SAME = " AND ".join(f"NEW.{c} = OLD.{c}" for c in ("id", "at", "user_key", "purpose", "resource", "channel"))
ALLOWED = f"NEW.actor LIKE 'erased:%' AND OLD.actor NOT LIKE 'erased:%' AND {_SAME}"


def _literal(db, sql):
    """``sql`` as the driver must see it: psycopg reads ``%`` as a parameter mark (an empty tuple is still one)."""
    return sql.replace("%", "%%") if is_postgres(db) else sql


def _sqlite(db, when):
    db.execute_sql(f"DROP TRIGGER IF EXISTS {TRIGGER}")
    db.execute_sql(
        f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE ON access_log {when}BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
    )


def _postgres(db, body):
    db.execute_sql(
        _literal(
            db, f"CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} END $$"
        )
    )


def up(migrator, db):
    if is_postgres(db):
        _postgres(db, f"IF {ALLOWED} THEN RETURN NEW; END IF; RAISE EXCEPTION '{MESSAGE}';")
    else:
        _sqlite(db, f"WHEN NOT ({ALLOWED}) ")


def down(migrator, db):
    if is_postgres(db):
        _postgres(db, f"RAISE EXCEPTION '{MESSAGE}';")
    else:
        _sqlite(db, "")
