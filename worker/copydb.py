"""Copy the whole database (normally SQLite) into an empty PostgreSQL one: the move to PostgreSQL.

The target gets the schema from the same migrations (so it is at the same
version, with its own JSONB columns and expression indexes), then, in ONE
transaction: the migration history, every table in foreign-key order in batches
of primary keys, and its id sequences reset past the copied ids. Before that
transaction commits, each table's row count and checksum (SHA-256 over the rows'
canonical values, in primary-key order) are compared with the source's; any
difference rolls everything back, so the target is either a verified copy or
still empty. A target whose tables hold any row is refused.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import peewee

from models import ALL_MODELS, is_postgres, migrator
from models.migrator import HISTORY_TABLE, make_runner
from models.rows import tuples
from worker.errors import safe_error


class CopyError(Exception):
    """The copy cannot start or did not verify; the target was left as it was (empty)."""


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int
    checksum: str


def _table_exists(database: peewee.Database, table: str) -> bool:
    if is_postgres(database):  # to_regclass follows search_path, like the migrations do
        return database.execute_sql("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]
    return (
        database.execute_sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
        is not None
    )


def data_models() -> list[type[peewee.Model]]:
    """Every application table, parents before children."""
    return peewee.sort_models(list(ALL_MODELS))  # type: ignore[attr-defined]  # in peewee, not in its stubs


def _primary_key(model: type[peewee.Model]) -> peewee.Field:
    """The key rows are paged and sequences reset by (every copied table has one: ``id``)."""
    pk = model._meta.primary_key
    if pk is False:
        raise CopyError(f"table {model._meta.table_name} has no primary key")
    return pk


def check_target_empty(target: peewee.Database) -> None:
    """Refuse a target where any application table has a row (an empty migrated schema is fine)."""
    for model in data_models():
        table = model._meta.table_name
        if _table_exists(target, table) and (
            target.execute_sql(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone() is not None
        ):
            raise CopyError(f"target is not empty (table {table} has rows); copy-db only fills an empty database")


def _canonical(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.UTC)
        return value.isoformat()
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return value


class _Checksum:
    def __init__(self) -> None:
        self.rows = 0
        self._hash = hashlib.sha256()

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows += 1
        line = json.dumps([_canonical(v) for v in row], sort_keys=True, ensure_ascii=False, default=str)
        self._hash.update(line.encode("utf-8") + b"\n")

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _batches(model: type[peewee.Model], database: peewee.Database, size: int) -> Iterator[list[tuple[Any, ...]]]:
    """Rows as tuples of Python values, in primary-key order, ``size`` at a time (keyset pagination)."""
    pk = _primary_key(model)
    fields = list(model._meta.sorted_fields)
    last = None
    while True:
        with database.bind_ctx([model], bind_refs=False, bind_backrefs=False):
            query = model.select(*fields).order_by(pk).limit(size)
            if last is not None:
                query = query.where(pk > last)
            rows = list(tuples(query))
        if not rows:
            return
        yield rows
        last = rows[-1][fields.index(pk)]


def _copy_table(
    model: type[peewee.Model],
    source: peewee.Database,
    target: peewee.Database,
    size: int,
    on_rows: Callable[[int], None],
) -> str:
    fields = list(model._meta.sorted_fields)
    checksum = _Checksum()
    for rows in _batches(model, source, size):
        for row in rows:
            checksum.add(row)
        with target.bind_ctx([model], bind_refs=False, bind_backrefs=False):
            model.insert_many(rows, fields=fields).execute()
        on_rows(len(rows))
    return checksum.hexdigest()


def table_checksum(model: type[peewee.Model], database: peewee.Database, size: int = 1000) -> TableCopy:
    """Row count and checksum of one table, read in primary-key order."""
    checksum = _Checksum()
    for rows in _batches(model, database, size):
        for row in rows:
            checksum.add(row)
    return TableCopy(model._meta.table_name, checksum.rows, checksum.hexdigest())


def _reset_sequences(target: peewee.Database, models: list[type[peewee.Model]]) -> None:
    if not is_postgres(target):
        return  # SQLite's AUTOINCREMENT-free rowids follow MAX(id) by themselves
    for model in models:
        key = _primary_key(model)
        if not isinstance(key, peewee.AutoField):
            continue  # no sequence behind it (the submissions' opaque text ids)
        table, pk = model._meta.table_name, key.column_name
        target.execute_sql(
            f'SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE((SELECT MAX("{pk}") FROM "{table}"), 0) + 1,'
            " false)",
            (table, pk),
        )


def count_rows(database: peewee.Database) -> int:
    with database.bind_ctx(data_models(), bind_refs=False, bind_backrefs=False):
        return sum(m.select().count() for m in data_models())


def copy_database(
    source: peewee.Database,
    target: peewee.Database,
    batch_size: int = 1000,
    on_rows: Callable[[int], None] = lambda n: None,
) -> list[TableCopy]:
    """Copy ``source`` into the empty ``target`` and verify it; returns one :class:`TableCopy` per table."""
    if migrator.pending(source):
        raise CopyError("the source has pending migrations; run `mediflux migrate` first")
    check_target_empty(target)
    migrator.upgrade(target)
    # One read snapshot of the source (DEFERRED on SQLite: the worker's IMMEDIATE would block its writers).
    snapshot = source.atomic() if is_postgres(source) else source.atomic("DEFERRED")
    try:
        return _copy_all(source, target, snapshot, batch_size, on_rows)
    except (peewee.DatabaseError, ValueError) as exc:  # e.g. a value PostgreSQL refuses: nothing was committed
        raise CopyError(f"the copy failed and was rolled back ({safe_error(exc)}); the target is still empty") from exc


def _copy_all(
    source: peewee.Database, target: peewee.Database, snapshot: Any, batch_size: int, on_rows: Callable[[int], None]
) -> list[TableCopy]:
    source_history, target_history = make_runner(source).History, make_runner(target).History
    models = data_models()
    copied: list[TableCopy] = []
    with snapshot, target.atomic():
        history = list(
            source_history.select(source_history.id, source_history.name, source_history.applied)
            .order_by(source_history.id)
            .tuples()
        )
        target_history.delete().execute()
        if history:
            target_history.insert_many(
                history, fields=[target_history.id, target_history.name, target_history.applied]
            ).execute()
        for model in models:
            checksum = _copy_table(model, source, target, batch_size, on_rows)
            copied.append(TableCopy(model._meta.table_name, 0, checksum))
        _reset_sequences(target, models + [target_history])
        verified = _verify(models, source, target, copied, batch_size)
        if isinstance(verified, str):
            raise CopyError(verified)  # leaving the block rolls the whole copy back
    return verified


def _verify(
    models: list[type[peewee.Model]],
    source: peewee.Database,
    target: peewee.Database,
    copied: list[TableCopy],
    size: int,
) -> list[TableCopy] | str:
    """Source and target tables compared inside the copy transaction: the verified list, or what differs."""
    result = []
    for model, during_copy in zip(models, copied):
        src = table_checksum(model, source, size)
        dst = table_checksum(model, target, size)
        if src.checksum != during_copy.checksum:
            return f"the source changed during the copy (table {src.table}); stop the worker and the app, then retry"
        if (src.rows, src.checksum) != (dst.rows, dst.checksum):
            return f"table {src.table} did not verify: {src.rows} rows copied, {dst.rows} in the target"
        result.append(src)
    history = [sorted(r.name for r in make_runner(d).History.select()) for d in (source, target)]
    if history[0] != history[1]:
        return "the migration history did not copy"
    result.append(TableCopy(HISTORY_TABLE, len(history[0]), hashlib.sha256("\n".join(history[0]).encode()).hexdigest()))
    return result
