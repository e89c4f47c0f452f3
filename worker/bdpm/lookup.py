"""Name lookups on the live mirror: the name index of the current version, built once and cached.

The index is built from ``store.index_rows`` the first time a version is searched in a process and kept
until the pointer moves (a sync swapped in a new version): a search costs one small read of the pointer
plus the in-memory match. Readers of the old version finish on the old index; nothing is shared
mutable. ``search`` and ``get`` are what the CLI, the data API and the analysis call.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

import peewee

from worker.bdpm import store
from worker.bdpm.match import THRESHOLD, Candidate, NameIndex

_lock = threading.Lock()
_indexes: dict[str, tuple[int, NameIndex]] = {}


def _key(db: store.Database) -> str:
    target = db.obj if isinstance(db, peewee.DatabaseProxy) else db
    params = getattr(target, "connect_params", {}) or {}
    # A PostgreSQL schema (``options=-csearch_path=…``) is a mirror of its own in the same database.
    where = f"{params.get('host', '')}:{params.get('port', '')}/{params.get('options', '')}"
    return f"{getattr(target, 'database', '')}@{where}"


def index_for(db: store.Database, version: int) -> NameIndex:
    """The name index of ``version`` (built on first use, one build at a time per process)."""
    key = _key(db)
    cached = _indexes.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    with _lock:
        cached = _indexes.get(key)
        if cached is None or cached[0] != version:
            index = NameIndex(store.index_rows(db, version))
            gc.freeze()  # ~10^6 long-lived objects: keep the cyclic collector from rescanning them on every pass
            _indexes[key] = cached = (version, index)
    return cached[1]


def current_index(db: store.Database) -> tuple[int, NameIndex] | None:
    """(version, index) of the live mirror; None while it is empty."""
    version = store.current_version(db)
    return None if version is None else (version, index_for(db, version))


def search(db: store.Database, text: str, limit: int = 10) -> list[dict[str, Any]]:
    """Ranked specialities for a prescription line (best first), each with its ``score`` in [0, 1],
    ``matched`` (score ≥ the threshold), its generic group and the mirror version; [] when the mirror is empty
    or no name can be read."""
    found = current_index(db)
    if found is None:
        return []
    version, index = found
    return [as_result(c, version) for c in index.search(text, max(1, min(int(limit), 100)))]


def as_result(candidate: Candidate, version: int) -> dict[str, Any]:
    out = candidate.as_dict()
    out["matched"] = candidate.score >= THRESHOLD
    out["mirror_version"] = version
    return out


def get(db: store.Database, code: str) -> dict[str, Any] | None:
    """The medicine by CIS (8 digits) or by box code (CIP13 / CIP7), from the live mirror."""
    return store.get_medicine(db, code)


def index_for_database(url: str) -> NameIndex:
    """The index of the live version of the mirror at ``url`` (bench and evaluation scripts)."""
    from models.database import open_database

    database = open_database(url)
    found = current_index(database)
    if found is None:
        raise SystemExit(f"the BDPM mirror at {url} is empty: run `mediflux bdpm sync`")
    return found[1]
