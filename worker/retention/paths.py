"""User ids as folder names: the shared rule (worker.userids), then a check that none escapes the data folders.

``inbox/<user_id>/`` and ``processed/<user_id>/`` are built from user ids, and
an erasure deletes those folders recursively: an id that is not a user id
(``../..``) is refused before any path is built, and every built path is
checked to sit right under its base folder. Error messages never echo the id.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from worker.userids import InvalidUserId, validate_user_id


def user_dir(base: Path, user_id: str) -> Path:
    """``base/<user_id>``, checked to be a direct child of ``base`` (defence in depth)."""
    path = base / validate_user_id(user_id)
    if path.parent.resolve() != base.resolve() or path.name != user_id:
        raise InvalidUserId("user id does not name a folder under the data folder")
    return path


def user_key(user_id: str) -> str:
    """SHA-256 of the user id: names the user in erasure records and logs without the id."""
    return hashlib.sha256(("mediflux-user:" + user_id).encode("utf-8", "surrogatepass")).hexdigest()


def within(base: Path, relative: str) -> Path | None:
    """``base/relative`` if it resolves inside ``base`` (for paths read from rows); None otherwise."""
    try:
        path = (base / relative).resolve()
        path.relative_to(base.resolve())
    except (ValueError, OSError):
        return None
    return path
