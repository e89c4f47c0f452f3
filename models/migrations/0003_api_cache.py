"""API cache: negative-cache flag, per-source counters, shared rate-limit state.

Models here are frozen copies (a migration must not change when the application models do).
"""

import peewee
from peewee import BigIntegerField, BooleanField, CharField, DoubleField
from playhouse.migrate import migrate

from models.base import UTCDateTimeField
from models.clock import utcnow


def _models(db):
    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class ApiCacheStats(Base):
        source = CharField(max_length=32, unique=True)
        hits = BigIntegerField(default=0)
        misses = BigIntegerField(default=0)
        stale_served = BigIntegerField(default=0)
        stale_if_error = BigIntegerField(default=0)
        upstream_calls = BigIntegerField(default=0)
        upstream_errors = BigIntegerField(default=0)
        not_modified = BigIntegerField(default=0)
        rejected = BigIntegerField(default=0)
        updated_at = UTCDateTimeField(default=utcnow)

        class Meta:
            table_name = "api_cache_stats"

    class ApiRateLimit(Base):
        source = CharField(max_length=32, unique=True)
        tat = DoubleField(default=0.0)

        class Meta:
            table_name = "api_rate_limits"

    return [ApiCacheStats, ApiRateLimit]


def up(migrator, db):
    migrate(migrator.add_column("api_cache", "negative", BooleanField(default=False)))
    db.create_tables(_models(db))


def down(migrator, db):
    db.drop_tables(list(reversed(_models(db))))
    migrate(migrator.drop_column("api_cache", "negative"))
