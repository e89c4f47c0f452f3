"""huey tasks: thin wrappers over plain functions in ``worker``, and the composition root that wires them.

:func:`connect` builds the process's :class:`~worker.runtime.Runtime` (settings, database, migrations, huey),
registers every task on its huey and installs the huey-backed :class:`~worker.triggers.Triggers`. Importing
this package does nothing else: ``huey_consumer tasks.huey`` (the Procfile's ``worker:``) connects on first
access of ``tasks.huey``, and the app calls ``tasks.connect()`` at start-up::

    import tasks
    runtime = tasks.connect()                 # settings from MEDIFLUX_* (exit 2 on a bad one)
    runtime.triggers.erase_user("u-42")       # enqueued; the consumer runs it
"""

from __future__ import annotations

from typing import Any

from tasks.wiring import connect

__all__ = ["connect"]


def __getattr__(name: str) -> Any:
    """``tasks.huey`` and ``tasks.runtime``: what huey_consumer and scripts load, connected on first use."""
    if name == "runtime":
        return connect()
    if name == "huey":
        return connect().huey
    raise AttributeError(f"module 'tasks' has no attribute {name!r}")
