"""Indexed JSON paths: one definition for the index DDL and for the query expression.

peewee binds a JSON path as a query parameter on SQLite, and SQLite only uses an
expression index when the query's expression is the index's expression to the
letter. So the paths the code filters on are inlined here (keys are validated
identifiers, never user input) and the migrations build their indexes from the
same function, which keeps the two in step on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re

import peewee

from models.base import is_postgres

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _checked(keys: tuple[str, ...]) -> tuple[str, ...]:
    if not keys or not all(isinstance(k, str) and _KEY.match(k) for k in keys):
        raise ValueError(f"JSON path keys must be identifiers, got {keys!r}")
    return keys


def sqlite_expression(column: str, keys: tuple[str, ...]) -> str:
    return f"json_extract({column}, '$.{'.'.join(_checked(keys))}')"


def postgres_expression(column: str, keys: tuple[str, ...]) -> str:
    return f"({column} #>> '{{{','.join(_checked(keys))}}}')"


def index_sql(table: str, column: str, keys: tuple[str, ...], postgres: bool) -> str:
    """``CREATE INDEX`` for the text value at ``column``→``keys`` (used by migrations)."""
    name = index_name(table, column, keys)
    expr = postgres_expression(column, keys) if postgres else sqlite_expression(column, keys)
    return f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({expr})"


class JsonText(peewee.ColumnBase):
    """Text value at ``field``→``keys``, rendered for the bound backend when the SQL is built."""

    def __init__(self, field: peewee.Field, keys: tuple[str, ...]) -> None:
        super().__init__()
        self.field = field
        self.keys = _checked(keys)

    def __sql__(self, ctx: peewee.Context) -> peewee.Context:
        if is_postgres(self.field.model._meta.database):
            path = peewee.SQL(f"#>> '{{{','.join(self.keys)}}}'")
            return ctx.sql(peewee.NodeList((self.field, path), glue=" ", parens=True))
        return ctx.sql(peewee.fn.json_extract(self.field, peewee.SQL(f"'$.{'.'.join(self.keys)}'")))


def json_text(field: peewee.Field, *keys: str) -> JsonText:
    """Text value at ``field``→``keys``, as the very expression its index is built on.

    Compare it with strings: ``json_text(User.profile, "mutuelle") == "MGEN"``.
    """
    return JsonText(field, tuple(keys))


def index_name(table: str, column: str, keys: tuple[str, ...]) -> str:
    return f"{table}_{column}_{'_'.join(_checked(keys))}"


def declare_json_index(field: peewee.Field, *keys: str) -> None:
    """Declare the JSON-path index on the model (same name and expression as the migration's)."""
    model = field.model
    name = index_name(model._meta.table_name, field.column_name, tuple(keys))
    model.add_index(peewee.ModelIndex(model, (JsonText(field, tuple(keys)),), name=name, safe=True))


# The JSON paths that have an index (migrations create them; models declare them).
INDEXED_PATHS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("users", "profile", ("mutuelle",)),
    ("users", "profile", ("pathology",)),
    ("documents", "analysis", ("document_type",)),
    ("users", "profile", ("location", "department")),
    ("users", "profile", ("location", "postcode")),
)
