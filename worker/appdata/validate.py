"""Validation at the boundary: what the app hands in is checked before anything touches the database.

Profiles are free-form JSON objects with a few known fields the app (and the
indexes) rely on: ``mutuelle`` and ``pathology`` (strings), ``location``
(``postcode``, ``department``, ``city``). Every JSON document is size-limited and
must not carry a NIR: the social security number is never stored in clear.
"""

from __future__ import annotations

import math
import re
from typing import Any

from models.base import _compact_dumps as canonical_json
from worker.appdata.errors import InvalidInput, InvalidProfile, PayloadTooLarge
from worker.privacy import contains_nir, mask_text
from worker.userids import RULE, InvalidUserId, validate_user_id

POSTCODE = re.compile(r"^[0-9]{5}$")
DEPARTMENT = re.compile(r"^(?:[0-9]{2}|2[AB]|9[78][0-9])$")
MAX_DEPTH = 12
MAX_TEXT = 128  # known string fields
PROFILE_STRINGS = ("mutuelle", "pathology")
LOCATION_FIELDS = {"postcode": POSTCODE, "department": DEPARTMENT, "city": None, "country": None}


def user_id(value: object) -> str:
    """A user id by the shared rule (worker.userids), refused with the data API's own typed error."""
    try:
        return validate_user_id(value)
    except InvalidUserId:
        raise InvalidInput("user_id", f"expected {RULE}") from None


_NIR_REFUSED = "looks like a NIR (social security number), which is never stored"


def text(field: str, value: object, max_len: int, required: bool = True, nir_ok: bool = False) -> str | None:
    """A short string field; one holding a NIR is refused (``nir_ok``: the caller masks it instead)."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field, "expected a non-empty string")
    if len(value) > max_len:
        raise InvalidInput(field, f"longer than {max_len} characters")
    if not nir_ok and contains_nir(value):
        raise InvalidInput(field, _NIR_REFUSED)
    return value


def json_document(field: str, value: object, max_bytes: int, error: type[InvalidInput] = InvalidInput) -> str:
    """Check ``value`` is plain JSON (no NaN, string keys, bounded depth, no NIR) and small enough; return its text."""
    _walk(field, value, 0, error)
    encoded = canonical_json(value)
    size = len(encoded.encode("utf-8"))
    if size > max_bytes:
        raise PayloadTooLarge(field, size, max_bytes)
    return encoded


def _walk(path: str, value: object, depth: int, error: type[InvalidInput]) -> None:
    if depth > MAX_DEPTH:
        raise error(path, f"nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) >= 10**12 and contains_nir(str(value)):
            raise error(path, _NIR_REFUSED)
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise error(path, "NaN and infinities are not JSON")
        return
    if isinstance(value, str):
        if "\x00" in value:
            raise error(path, "NUL characters are not allowed")
        if contains_nir(value):
            raise error(path, _NIR_REFUSED)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key or len(key) > 64:
                raise error(path, "object keys must be non-empty strings of at most 64 characters")
            if contains_nir(key):  # named by its parent's path: the error text never repeats the key
                raise error(path, "an object key " + _NIR_REFUSED)
            _walk(f"{path}.{key}", item, depth + 1, error)
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _walk(f"{path}[{i}]", item, depth + 1, error)
        return
    raise error(path, f"{type(value).__name__} is not a JSON value")


def profile(value: object, max_bytes: int) -> dict[str, Any]:
    """A whole profile: a JSON object whose known fields have the shapes the app and indexes expect."""
    if not isinstance(value, dict):
        raise InvalidProfile("profile", "expected a JSON object")
    for name in PROFILE_STRINGS:
        if (
            name in value
            and value[name] is not None
            and (not isinstance(value[name], str) or not value[name].strip() or len(value[name]) > MAX_TEXT)
        ):
            raise InvalidProfile(f"profile.{name}", f"expected a non-empty string of at most {MAX_TEXT} characters")
    location = value.get("location")
    if location is not None:
        if not isinstance(location, dict):
            raise InvalidProfile("profile.location", "expected an object (postcode, department, city, country)")
        for key, item in location.items():
            if key not in LOCATION_FIELDS:
                raise InvalidProfile("profile.location", "allowed keys: " + ", ".join(LOCATION_FIELDS))
            pattern = LOCATION_FIELDS[key]
            if item is not None and (
                not isinstance(item, str) or len(item) > MAX_TEXT or (pattern is not None and not pattern.match(item))
            ):
                raise InvalidProfile(f"profile.location.{key}", _LOCATION_HELP.get(key, "expected a short string"))
    json_document("profile", value, max_bytes, InvalidProfile)
    return value


_LOCATION_HELP = {"postcode": "expected 5 digits", "department": "expected a department code (75, 2A, 974)"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge recursively, ``None`` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def step_ids(pathway: object) -> list[str]:
    """The step ids of a pathway document: ``{"steps": ["id", {"id": ...}, ...]}``, unique."""
    if not isinstance(pathway, dict) or not isinstance(pathway.get("steps"), list) or not pathway["steps"]:
        raise InvalidInput("pathway.steps", "expected a non-empty list of steps")
    ids = []
    for i, step in enumerate(pathway["steps"]):
        sid = step.get("id") if isinstance(step, dict) else step
        if not isinstance(sid, str) or not sid or len(sid) > 128:
            raise InvalidInput(f"pathway.steps[{i}]", "expected a step id (string) or an object with an 'id'")
        ids.append(sid)
    if len(set(ids)) != len(ids):
        raise InvalidInput("pathway.steps", "step ids must be unique")
    return ids


def query_text(value: object, max_len: int = 4000) -> str:
    """A user's query: stored with any NIR masked (the raw number never reaches the database)."""
    checked = text("text", value, max_len, nir_ok=True)
    assert checked is not None
    return mask_text(checked)
