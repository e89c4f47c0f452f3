"""Documents: idempotency per owner — unique (sha256, user_id) instead of unique sha256.

The same bytes landed by two users are two documents, each owned; the same bytes twice for one user stay one.
``UNIQUE (sha256, user_id)`` alone would let documents without a user repeat (NULLs are distinct in a unique
index on both backends), so a partial unique index keeps those unique per sha256. ``sha256`` comes first so
that lookups by content (ingestion's duplicate check) use the index. Plain SQL, valid on SQLite and PostgreSQL;
existing rows are untouched (they were unique per sha256, so they satisfy both new indexes).
"""

OLD = "documents_sha256"
PER_OWNER = "documents_sha256_user_id"
NO_OWNER = "documents_sha256_no_user"


class SharedContent(RuntimeError):
    """``down()`` would have to drop a document: the same content is stored for several owners."""


def up(migrator, db):
    db.execute_sql(f"DROP INDEX IF EXISTS {OLD}")
    db.execute_sql(f"CREATE UNIQUE INDEX IF NOT EXISTS {PER_OWNER} ON documents (sha256, user_id)")
    db.execute_sql(f"CREATE UNIQUE INDEX IF NOT EXISTS {NO_OWNER} ON documents (sha256) WHERE user_id IS NULL")


def down(migrator, db):
    shared = db.execute_sql("SELECT COUNT(*) FROM (SELECT sha256 FROM documents GROUP BY sha256 HAVING COUNT(*) > 1) s")
    if shared.fetchone()[0]:
        # Choosing which owner keeps a document is a decision about patients' data, not a schema step.
        raise SharedContent("some content is stored for several owners; erase or merge those documents first")
    db.execute_sql(f"DROP INDEX IF EXISTS {NO_OWNER}")
    db.execute_sql(f"DROP INDEX IF EXISTS {PER_OWNER}")
    db.execute_sql(f"CREATE UNIQUE INDEX IF NOT EXISTS {OLD} ON documents (sha256)")
