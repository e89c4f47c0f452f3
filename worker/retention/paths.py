"""User ids as folder names: the shared rule (worker.userids), then a check that none escapes the data folders.

``inbox/<user_id>/`` and ``processed/<user_id>/`` are built from user ids, and
an erasure deletes those folders recursively: an id that is not a user id
(``../..``) is refused before any path is built, and every built path is
checked to sit right under its base folder. Error messages never echo the id.
"""

from __future__ import annotations

from pathlib import Path

from worker.userids import InvalidUserId, validate_user_id


def user_dir(base: Path, user_id: str) -> Path:
    """``base/<user_id>``, checked to be a direct child of ``base`` (defence in depth)."""
    path = base / validate_user_id(user_id)
    if path.parent.resolve() != base.resolve() or path.name != user_id:
        raise InvalidUserId("user id does not name a folder under the data folder")
    return path


def within(base: Path, relative: str) -> Path | None:
    """``base/relative`` if it resolves inside ``base`` (for paths read from rows); None otherwise."""
    try:
        path = (base / relative).resolve()
        path.relative_to(base.resolve())
    except (ValueError, OSError):
        return None
    return path
