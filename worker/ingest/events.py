"""After-commit listeners: how newly stored documents trigger analysis without ``worker`` importing ``tasks``.

``tasks.ingest`` registers a listener that enqueues ``tasks.analysis.analyze_documents(ids)``; every path
that stores documents (task, watcher, CLI, periodic rescan) calls :func:`notify` after its commit. A
listener failure (queue down) is logged and swallowed: the rows are committed, and the
``analysis_backlog`` job finds unanalysed documents anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("mediflux.ingest")
_listeners: list[Callable[[list[int]], None]] = []


def add_listener(callback: Callable[[list[int]], None]) -> None:
    """Call ``callback(ids)`` after each commit that stored new documents (registered once per callback)."""
    if callback not in _listeners:
        _listeners.append(callback)


def remove_listener(callback: Callable[[list[int]], None]) -> None:
    if callback in _listeners:
        _listeners.remove(callback)


def notify(ids: list[int]) -> None:
    if not ids:
        return
    for callback in _listeners:
        try:
            callback(list(ids))
        except Exception as exc:  # noqa: BLE001 — the commit stands; the backlog job is the safety net
            log.warning("after-ingest trigger failed for %d documents: %s", len(ids), type(exc).__name__)
