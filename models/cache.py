"""Cached upstream API responses (BDPM, Annuaire Santé, Odissé)."""

from __future__ import annotations

import peewee

from models.base import BaseModel, Json, UTCDateTimeField
from models.clock import utcnow


class ApiCache(BaseModel):
    """One cached answer, keyed by (source, endpoint, params_hash).

    Two horizons: ``fresh_until`` (served as is) and ``stale_until`` (served while a
    refresh runs, or when upstream fails). Params are stored redacted (no secrets).
    """

    source = peewee.CharField(max_length=32)
    endpoint = peewee.CharField(max_length=255)
    params_hash = peewee.CharField(max_length=64)
    params = Json(default=dict)
    response = Json(null=True)
    status_code = peewee.IntegerField(null=True)
    etag = peewee.CharField(max_length=512, null=True)
    last_modified = peewee.CharField(max_length=64, null=True)
    fetched_at = UTCDateTimeField(null=True)
    fresh_until = UTCDateTimeField(null=True, index=True)
    stale_until = UTCDateTimeField(null=True, index=True)
    last_read_at = UTCDateTimeField(null=True)
    hits = peewee.BigIntegerField(default=0)
    error_count = peewee.IntegerField(default=0)
    last_error = peewee.TextField(null=True)
    last_error_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    negative = peewee.BooleanField(default=False)  # 404 / empty answer, kept briefly (negative caching)

    class Meta:
        table_name = "api_cache"
        indexes = ((("source", "endpoint", "params_hash"), True),)


class ApiCacheStats(BaseModel):
    """Counters per source (hits, misses, stale served, upstream calls and errors), added to in batches."""

    source = peewee.CharField(max_length=32, unique=True)
    hits = peewee.BigIntegerField(default=0)
    misses = peewee.BigIntegerField(default=0)
    stale_served = peewee.BigIntegerField(default=0)
    stale_if_error = peewee.BigIntegerField(default=0)
    upstream_calls = peewee.BigIntegerField(default=0)
    upstream_errors = peewee.BigIntegerField(default=0)
    not_modified = peewee.BigIntegerField(default=0)
    rejected = peewee.BigIntegerField(default=0)  # answers refused by validation (never stored)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "api_cache_stats"


class ApiRateLimit(BaseModel):
    """Shared rate limit of one upstream source: a GCRA "theoretical arrival time" (epoch seconds).

    Every process reserves its slot with one atomic UPDATE, so the limit holds across
    threads, processes and machines sharing the database.
    """

    source = peewee.CharField(max_length=32, unique=True)
    tat = peewee.DoubleField(default=0.0)

    class Meta:
        table_name = "api_rate_limits"
