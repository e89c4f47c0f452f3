"""Base model, the database proxy and the portable field types every table uses.

``db`` is a :class:`peewee.DatabaseProxy`: models are declared once and bound at
start to SQLite or PostgreSQL by :func:`models.database.open_database`.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import TYPE_CHECKING, Any

import peewee
from peewee import JSONField  # peewee 4: portable JSON (SQLite JSON1, PostgreSQL JSONB)

UTC = _dt.UTC
_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

db = peewee.DatabaseProxy()


def _compact_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


class Json(JSONField):
    """JSON column: TEXT + JSON1 on SQLite, JSONB on PostgreSQL; compact canonical dumps."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("dumps", _compact_dumps)
        super().__init__(**kwargs)


def is_postgres(database: peewee.Database | peewee.DatabaseProxy) -> bool:
    """True when ``database`` (or the proxy's target) is PostgreSQL."""
    if isinstance(database, peewee.DatabaseProxy):
        database = database.obj
    return isinstance(database, peewee.PostgresqlDatabase)


class UTCDateTimeField(peewee.Field):
    """Timezone-aware UTC timestamp.

    SQLite stores fixed-width UTC text (so ordering and comparisons are textual and
    correct); PostgreSQL stores ``TIMESTAMPTZ``. Naive datetimes are refused on the
    way in and every value read back is aware UTC.
    """

    # Mapped per backend by models.database: TEXT on SQLite, TIMESTAMPTZ on PostgreSQL.
    field_type = "UTCDATETIME"

    def db_value(self, value: Any) -> Any:
        if value is None or isinstance(value, peewee.Node):
            return value
        if not isinstance(value, _dt.datetime):
            raise TypeError(f"{self.name}: expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{self.name}: naive datetime refused; use timezone-aware UTC")
        value = value.astimezone(UTC)
        if is_postgres(self.model._meta.database):
            return value
        return value.strftime(_SQLITE_FORMAT)

    def python_value(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, _dt.datetime):
            if value.tzinfo is None:
                return value.replace(tzinfo=UTC)
            return value.astimezone(UTC)
        text = str(value)
        try:
            parsed = _dt.datetime.fromisoformat(text)
        except ValueError:
            return value
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)


class BaseModel(peewee.Model):
    """Every table: bound to the shared proxy, explicit table names."""

    if TYPE_CHECKING:
        # peewee adds ``id = AutoField()`` at class creation to every model without its own
        # primary key (all of ours); declared for the type checker only, so no table changes.
        id: peewee.AutoField[int]

    class Meta:
        database = db
        legacy_table_names = False
