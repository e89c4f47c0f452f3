"""Rows of a query as tuples or dicts, typed as such.

peewee's stubs give ``query.tuples()`` and ``query.dicts()`` the query's own type, so a
type checker sees model instances where the rows are tuples or dicts. These run the very
same query (``.tuples()`` / ``.dicts()``, then iteration) and say what comes out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import peewee


def tuples(query: peewee.BaseQuery) -> Iterator[tuple[Any, ...]]:
    """Iterate ``query``'s rows as tuples (one value per selected column, in order)."""
    return iter(query.tuples())


def dicts(query: peewee.BaseQuery) -> Iterator[dict[str, Any]]:
    """Iterate ``query``'s rows as dicts keyed by column (or alias) name."""
    return iter(query.dicts())
