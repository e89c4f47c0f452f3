"""Per-source adapters: how a (endpoint, params) question becomes HTTP requests, and how an answer is checked.

Each adapter is pure (no I/O): ``build`` makes the first request, ``validate`` turns a
parsed body into the data to cache (or raises InvalidAnswer), ``next_request`` follows
paging, ``merge`` joins pages and ``is_empty`` decides negative caching.
"""

from __future__ import annotations

from worker.cache.sources.annuaire import ANNUAIRE
from worker.cache.sources.base import Adapter, HttpRequest
from worker.cache.sources.bdpm import BDPM
from worker.cache.sources.odisse import ODISSE

ADAPTERS: dict[str, Adapter] = {a.name: a for a in (BDPM, ANNUAIRE, ODISSE)}

__all__ = ["ADAPTERS", "Adapter", "HttpRequest"]
