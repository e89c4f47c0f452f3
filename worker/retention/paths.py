"""User ids as folder names: validated so that none can escape the data folders.

``inbox/<user_id>/`` and ``processed/<user_id>/`` are built from user ids, and
an erasure deletes those folders recursively: an id such as ``../..`` must be
refused before any path is built, and every built path is checked to sit right
under its base folder. Error messages never echo the id.
"""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path

MAX_USER_ID_BYTES = 128  # users.user_id is CHAR(128); also well under NAME_MAX (255)


class InvalidUserId(ValueError):
    """The user id cannot be used (empty, too long, or has path or control characters)."""


def validate_user_id(user_id: object) -> str:
    """Return ``user_id`` if it is safe as one folder name; raise :class:`InvalidUserId` otherwise."""
    if not isinstance(user_id, str) or not user_id:
        raise InvalidUserId("user id must be a non-empty string")
    if len(user_id.encode("utf-8", "surrogatepass")) > MAX_USER_ID_BYTES:
        raise InvalidUserId(f"user id longer than {MAX_USER_ID_BYTES} bytes")
    if "/" in user_id or "\\" in user_id:
        raise InvalidUserId("user id contains a path separator")
    if user_id in (".", "..") or user_id.startswith("."):
        raise InvalidUserId("user id may not start with '.'")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in user_id):
        raise InvalidUserId("user id contains a control character")
    if user_id != user_id.strip():
        raise InvalidUserId("user id has leading or trailing spaces")
    return user_id


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
