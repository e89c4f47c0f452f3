"""Profiles: create, partial update (JSON merge patch, not overwrite), read, find by indexed JSON fields."""

from __future__ import annotations

from typing import Any

import peewee

from models import User, json_text
from models.clock import utcnow
from worker.appdata import validate
from worker.appdata.backend import Backend, user_pk
from worker.appdata.errors import InvalidInput, InvalidProfile, UserExists
from worker.appdata.views import Profile

# Search criteria → the indexed JSON path each one filters on (models.json_paths.INDEXED_PATHS).
SEARCH_PATHS: dict[str, tuple[str, ...]] = {
    "mutuelle": ("mutuelle",),
    "pathology": ("pathology",),
    "department": ("location", "department"),
    "postcode": ("location", "postcode"),
}


def _view(row: User) -> Profile:
    return Profile(row.user_id, row.profile or {}, row.created_at, row.updated_at)


def create_profile(b: Backend, user_id: str, profile: dict[str, Any] | None = None) -> Profile:
    """Create the user with this profile; :class:`UserExists` if the id is taken."""
    validate.user_id(user_id)
    profile = validate.profile({} if profile is None else profile, b.max_json_bytes)
    now = utcnow()
    try:
        with b.database.atomic():
            if b.first(User.select(User.id).where(User.user_id == user_id)) is not None:
                raise UserExists(user_id)
            User.insert(
                {
                    User.user_id: user_id,
                    User.profile: b.json(validate.canonical_json(profile)),
                    User.created_at: now,
                    User.updated_at: now,
                }
            ).execute(b.database)
    except peewee.IntegrityError:  # a concurrent create won the race (PostgreSQL: both saw no row)
        raise UserExists(user_id) from None
    return Profile(user_id, profile, now, now)


def update_profile(b: Backend, user_id: str, patch: dict[str, Any]) -> Profile:
    """Merge ``patch`` into the stored profile (RFC 7396: nested objects merge, ``None`` removes a key).

    Read, merge and write happen in one write transaction (row locked on PostgreSQL,
    ``BEGIN IMMEDIATE`` on SQLite), so concurrent partial updates never lose each other's keys.
    """
    validate.user_id(user_id)
    if not isinstance(patch, dict):
        raise InvalidProfile("profile", "a partial update is a JSON object")
    validate.json_document("profile", patch, b.max_json_bytes, InvalidProfile)
    with b.database.atomic():
        row = user_pk(b, user_id, lock="FOR UPDATE")
        merged = validate.profile(validate.merge_patch(row.profile or {}, patch), b.max_json_bytes)
        now = utcnow()
        (
            User.update({User.profile: b.json(validate.canonical_json(merged)), User.updated_at: now})
            .where(User.id == row.id)
            .execute(b.database)
        )
    return Profile(user_id, merged, row.created_at, now)


def get_profile(b: Backend, user_id: str) -> Profile:
    """The user's profile; :class:`UnknownUser` if there is none."""
    validate.user_id(user_id)
    return _view(user_pk(b, user_id))


def search_query(**criteria: str) -> peewee.ModelSelect[User]:
    """The query behind :func:`find_users` (exposed so tests can EXPLAIN it): AND of exact JSON-path matches."""
    condition: peewee.Expression | None = None
    for name, value in criteria.items():
        if name not in SEARCH_PATHS:
            raise InvalidInput("criteria", "unknown criterion; use " + ", ".join(SEARCH_PATHS))
        validate.text(name, value, validate.MAX_TEXT)
        term = json_text(User.profile, *SEARCH_PATHS[name]) == value
        condition = term if condition is None else condition & term
    if condition is None:
        raise InvalidInput("criteria", "give at least one of " + ", ".join(SEARCH_PATHS))
    return User.select().where(condition).order_by(User.id)


def find_users(
    b: Backend,
    *,
    mutuelle: str | None = None,
    pathology: str | None = None,
    department: str | None = None,
    postcode: str | None = None,
    limit: int = 100,
) -> list[Profile]:
    """Profiles matching every given criterion (exact values), each served by its JSON index."""
    criteria = {"mutuelle": mutuelle, "pathology": pathology, "department": department, "postcode": postcode}
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
        raise InvalidInput("limit", "expected 1-1000")
    query = search_query(**{k: v for k, v in criteria.items() if v is not None})
    return [_view(row) for row in b.rows(query.limit(limit))]
