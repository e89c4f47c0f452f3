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

    class Meta:
        table_name = "api_cache"
        indexes = ((("source", "endpoint", "params_hash"), True),)
