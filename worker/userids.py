"""User ids: one rule for every place an id arrives or is used (docs/architecture.md, "User ids").

The same id names an inbox folder (``inbox/<user_id>/``), a processed-copies folder that erasure deletes
recursively, canonical JSON's ``user_id``, the data API's users and the CLI's arguments. With one rule, an id
the data API accepts is never quarantined by ingestion nor refused by ``erase-user``. The alphabet is ASCII
(no look-alikes, no normalisation), starts with a letter or digit (so no ``.``, ``..`` or hidden folder),
has no separator, space or control character, and is checked with ``fullmatch`` (``$`` would let a trailing
newline through). Errors never echo the id: it is personal data.
"""

from __future__ import annotations

import re

MAX_LENGTH = 128  # users.user_id is CHAR(128); well under NAME_MAX (255)
PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:@+-]{{0,{MAX_LENGTH - 1}}}")
RULE = f"1-{MAX_LENGTH} ASCII letters, digits or . _ : @ + - (starting with a letter or digit)"


class InvalidUserId(ValueError):
    """The value is not a user id (the message says why in general, never repeats the value)."""


def is_valid_user_id(value: object) -> bool:
    """True if ``value`` is a string following the user id rule."""
    return isinstance(value, str) and PATTERN.fullmatch(value) is not None


def validate_user_id(value: object) -> str:
    """Return ``value`` if it is a user id; raise :class:`InvalidUserId` otherwise."""
    if isinstance(value, str) and PATTERN.fullmatch(value):
        return value
    raise InvalidUserId(f"a user id is {RULE}")
