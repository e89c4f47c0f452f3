"""Cache keys: SHA-256 of a canonical JSON of (API version, source, endpoint, parameters).

Canonical means: sorted keys, no insignificant spaces, every string in Unicode NFC
(so "é" typed as one or two code points is one key). Secrets are never part of a key:
parameters that look like credentials are refused before anything is hashed or stored.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any, Mapping

from worker.cache.errors import InvalidRequest

SOURCES = ("bdpm", "annuaire", "odisse")
# Bump a version when the meaning of cached answers changes (query text, paging): old keys then miss.
API_VERSIONS = {"bdpm": "graphql-1", "annuaire": "fhir-r4-v2/1", "odisse": "explore-v2.1/1"}
# One encoder, built once: json.dumps with options builds a new encoder per call (most of a key's cost).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_SECRET_NAME = re.compile(r"(api[-_]?key|apikey|token|secret|passw|authori[sz]ation|cookie)", re.I)


def _nfc(value: Any, path: str) -> Any:
    cls = value.__class__
    if cls is str:
        return value if value.isascii() else unicodedata.normalize("NFC", value)  # ASCII is already NFC
    if cls is int or cls is bool or value is None:
        return value
    if cls is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidRequest(f"parameter {path}: not a finite number")
        return value
    if cls is list or cls is tuple:
        return [_nfc(v, f"{path}[]") for v in value]
    if cls is dict or isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if k.__class__ is not str:
                raise InvalidRequest(f"parameter {path}: keys must be strings")
            if _SECRET_NAME.search(k):
                raise InvalidRequest(f"parameter {k!r} looks like a credential: secrets never go in cache keys")
            out[_nfc(k, path)] = _nfc(v, k)
        return out
    if isinstance(value, (str, int, float, list, tuple)):  # subclasses (enums, named tuples): plain values
        return _nfc(json.loads(json.dumps(value)), path)
    raise InvalidRequest(f"parameter {path}: {type(value).__name__} is not a JSON value")


def normalize_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Parameters as stored: JSON values only, NFC strings, no credential-like names."""
    return _nfc(dict(params or {}), "params")


def canonical_json(source: str, endpoint: str, params: Mapping[str, Any]) -> str:
    """The exact text that is hashed (params must already be normalised)."""
    if source not in API_VERSIONS:
        raise InvalidRequest(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    doc = {"v": API_VERSIONS[source], "s": source, "e": unicodedata.normalize("NFC", endpoint), "p": params}
    return _CANONICAL.encode(doc)


def cache_key(source: str, endpoint: str, params: Mapping[str, Any]) -> str:
    """64 hex characters identifying one upstream question."""
    return hashlib.sha256(canonical_json(source, endpoint, params).encode("utf-8")).hexdigest()
