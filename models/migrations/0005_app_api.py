"""App data API: indexes for finding users by location (department, postcode) in their JSON profile.

Built from models.json_paths like 0001's, so the index expression is the query's
to the letter (SQLite) and an expression index on the JSONB text (PostgreSQL).
"""

from models.base import is_postgres
from models.json_paths import index_name, index_sql

JSON_INDEXES = (
    ("users", "profile", ("location", "department")),
    ("users", "profile", ("location", "postcode")),
)


def up(migrator, db):
    for table, column, keys in JSON_INDEXES:
        db.execute_sql(index_sql(table, column, keys, postgres=is_postgres(db)))


def down(migrator, db):
    for table, column, keys in JSON_INDEXES:
        db.execute_sql(f"DROP INDEX IF EXISTS {index_name(table, column, keys)}")
