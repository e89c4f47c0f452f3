"""The upstream APIs the cache reads: one module per source declares its :class:`Upstream`; this is the registry.

Everything else derives from it — the settings (``worker.config`` reads each source's
variables), cache keys (``worker.cache.keys``), policies, the doctor's checks and the CLI's
choices — so adding an upstream touches its own module and one registration below
(docs/cache.md, "Adding an upstream"). This package imports nothing of ``worker.cache``
or ``worker.config``: both import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from worker.upstreams.annuaire import ANNUAIRE
from worker.upstreams.base import Adapter, Bounds, HttpRequest, Upstream
from worker.upstreams.bdpm import BDPM
from worker.upstreams.odisse import ODISSE


def registry(*upstreams: Upstream) -> Mapping[str, Upstream]:
    """Upstreams by name, in the order given (the order of the CLI, stats and refreshes); names are unique."""
    by_name = {u.name: u for u in upstreams}
    if len(by_name) != len(upstreams):
        raise ValueError("two upstreams share a name")
    return MappingProxyType(by_name)


UPSTREAMS = registry(
    BDPM,
    ANNUAIRE,
    ODISSE,
)
SOURCES: tuple[str, ...] = tuple(UPSTREAMS)

__all__ = ["SOURCES", "UPSTREAMS", "Adapter", "Bounds", "HttpRequest", "Upstream", "registry"]
