"""Multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` for hot bulk paths, built as plain SQL.

peewee's ``insert_many`` builds a node tree per value, a large share of a batch's CPU time in ingestion
(docs/benchmarks.md). Here the statement text depends only on the table, the columns and the
row count, and values go through each field's own ``db_value`` (timestamps, foreign keys, JSONB), so the
rows stored are the same as peewee's. One exception mirrors peewee: on SQLite a JSON value is bound as text
and wrapped in ``json(?)``, as ``JSONField`` does. The SQL is valid on SQLite (≥ 3.35) and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import peewee

# SQLite's default limit on bound parameters is 32,766; stay well below it (and PostgreSQL's 65,535).
MAX_PARAMS = 30_000


def _target(model: type[peewee.Model]) -> peewee.Database:
    database = model._meta.database
    return database.obj if isinstance(database, peewee.DatabaseProxy) else database


def _binding(database: peewee.Database, field: peewee.Field) -> tuple[str, Callable[[Any], Any]]:
    """Placeholder and value converter for ``field``."""
    if isinstance(field, peewee.JSONField) and isinstance(database, peewee.SqliteDatabase):
        # The field's own serialiser (compact, sorted keys for ``models.Json``); private, so not in peewee's stubs.
        dumps = field._dumps  # type: ignore[attr-defined]
        return f"json({database.param})", lambda v: None if v is None else dumps(v)
    return database.param, field.db_value


@lru_cache(maxsize=64)
def _statement(
    quote: str,
    placeholders: tuple[str, ...],
    table: str,
    columns: tuple[str, ...],
    conflict: str | None,
    returning: tuple[str, ...],
    rows: int,
) -> str:
    def q(name: str) -> str:
        return f"{quote[0]}{name}{quote[1]}"

    row = "(" + ", ".join(placeholders) + ")"
    target = f"({q(conflict)}) " if conflict else ""
    return (
        f"INSERT INTO {q(table)} ({', '.join(map(q, columns))}) VALUES {', '.join([row] * rows)} "
        f"ON CONFLICT {target}DO NOTHING RETURNING {', '.join(map(q, returning))}"
    )


def insert_ignore_returning(
    model: type[peewee.Model],
    fields: Sequence[peewee.Field],
    rows: Sequence[Sequence[Any]],
    conflict: peewee.Field | None,
    returning: Sequence[peewee.Field],
) -> list[tuple]:
    """Insert ``rows`` (values in ``fields`` order); rows whose ``conflict`` value exists are skipped.

    ``conflict`` None skips a row that would break any unique index (``ON CONFLICT DO NOTHING`` with no target):
    the way to honour several partial unique indexes at once (``documents``: one per owner, one without owner).

    Field defaults are not applied: ``fields`` must name every column that needs a value.

    Returns the ``returning`` columns of the rows actually inserted (raw database values), in chunks
    that keep under the bound-parameter limit. Run it inside the caller's transaction.
    """
    database = _target(model)
    columns = tuple(f.column_name for f in fields)
    placeholders, converters = zip(*(_binding(database, f) for f in fields))
    per_chunk = max(1, MAX_PARAMS // len(columns))
    out: list[tuple] = []
    for start in range(0, len(rows), per_chunk):
        chunk = rows[start : start + per_chunk]
        sql = _statement(
            database.quote,
            placeholders,
            model._meta.table_name,
            columns,
            conflict.column_name if conflict is not None else None,
            tuple(f.column_name for f in returning),
            len(chunk),
        )
        params = [convert(value) for row in chunk for convert, value in zip(converters, row)]
        out += database.execute_sql(sql, params).fetchall()
    return out
