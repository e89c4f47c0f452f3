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
from collections.abc import Mapping
from typing import Any

from worker.cache.errors import InvalidRequest
from worker.upstreams import SOURCES, UPSTREAMS

# Each source's declared api_version (bumped when the meaning of cached answers changes: old keys then miss).
API_VERSIONS = {name: up.api_version for name, up in UPSTREAMS.items()}
_string = json.encoder.encode_basestring  # C: a JSON string, non-ASCII kept
_SECRET_NAME = re.compile(r"(api[-_]?key|apikey|token|secret|passw|authori[sz]ation|cookie)", re.I)


def _walk(value: Any, path: str) -> tuple[Any, str]:
    """(NFC copy of ``value``, its canonical JSON text) in one pass — the same text as
    ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``, a few times faster."""
    cls = value.__class__
    if cls is str:
        value = value if value.isascii() else unicodedata.normalize("NFC", value)  # ASCII is already NFC
        return value, _string(value)
    if cls is bool:
        return value, "true" if value else "false"
    if cls is int:
        return value, int.__repr__(value)
    if value is None:
        return None, "null"
    if cls is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidRequest(f"parameter {path}: not a finite number")
        return value, float.__repr__(value)
    if cls is list or cls is tuple:
        pairs = [_walk(v, f"{path}[]") for v in value]
        return [v for v, _ in pairs], "[" + ",".join(t for _, t in pairs) + "]"
    if cls is dict or isinstance(value, Mapping):
        out: dict[str, Any] = {}
        texts: dict[str, str] = {}
        for k, v in value.items():
            if k.__class__ is not str:
                raise InvalidRequest(f"parameter {path}: keys must be strings")
            if _SECRET_NAME.search(k):
                raise InvalidRequest(f"parameter {k!r} looks like a credential: secrets never go in cache keys")
            k = k if k.isascii() else unicodedata.normalize("NFC", k)
            out[k], texts[k] = _walk(v, k)
        return out, "{" + ",".join(_string(k) + ":" + texts[k] for k in sorted(texts)) + "}"
    if isinstance(value, (str, int, float, list, tuple)):  # subclasses (enums, named tuples): plain values
        return _walk(json.loads(json.dumps(value)), path)
    raise InvalidRequest(f"parameter {path}: {type(value).__name__} is not a JSON value")


def normalize_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Parameters as stored: JSON values only, NFC strings, no credential-like names."""
    return _walk(dict(params or {}), "params")[0]


def canonical_json(source: str, endpoint: str, params: Mapping[str, Any]) -> str:
    """The exact text that is hashed: keys sorted, compact, NFC (params are normalised here too)."""
    return _canonical(source, endpoint, _walk(dict(params), "params")[1])


def _canonical(source: str, endpoint: str, params_text: str) -> str:
    if source not in API_VERSIONS:
        raise InvalidRequest(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    endpoint = endpoint if endpoint.isascii() else unicodedata.normalize("NFC", endpoint)
    return f'{{"e":{_string(endpoint)},"p":{params_text},"s":{_string(source)},"v":{_string(API_VERSIONS[source])}}}'


def key_and_params(source: str, endpoint: str, params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """The hot path's one pass: (cache key, normalised params)."""
    if params is None:
        params = {}
    elif params.__class__ is not dict and not isinstance(params, Mapping):
        raise InvalidRequest("params must be a mapping of names to JSON values")
    clean, text = _walk(params, "params")
    return hashlib.sha256(_canonical(source, endpoint, text).encode("utf-8")).hexdigest(), clean


def cache_key(source: str, endpoint: str, params: Mapping[str, Any]) -> str:
    """64 hex characters identifying one upstream question."""
    return hashlib.sha256(canonical_json(source, endpoint, params).encode("utf-8")).hexdigest()
