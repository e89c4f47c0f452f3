"""Actor and purpose of a read: short identifiers, never free text, never a NIR.

An actor names who reads (``app``, ``self`` — the user reading their own data —, ``operator``, a staff
account such as ``dr.martin@clinic``); a purpose says why (``service``, ``support``, ``right_of_access``…).
Both are chosen by code, not typed by patients, so the rule is strict: 1–64 ASCII characters, the first a
letter or digit, then letters, digits or ``. _ : @ / + -``; no spaces, and no NIR (the masking rule).
"""

from __future__ import annotations

import functools
import re

from worker.privacy import mask_nirs

LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,63}")
SELF = "self"  # the actor stored when the actor is the user whose data is read: the id is never written


class InvalidLabel(ValueError):
    """An actor or purpose breaks the rule; ``field`` names which (the value is not repeated)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


@functools.lru_cache(maxsize=1024)
def _ok(value: str) -> bool:
    return LABEL.fullmatch(value) is not None and not mask_nirs(value)[1]


def check_label(field: str, value: object) -> str:
    """``value`` if it is a valid actor or purpose; :class:`InvalidLabel` otherwise."""
    if not isinstance(value, str) or not _ok(value):
        raise InvalidLabel(field, "expected 1-64 characters: letters, digits and . _ : @ / + - (no spaces, no NIR)")
    return value
