"""Where CLI commands get their runtime: the one place in ``worker/`` that imports ``tasks``.

The CLI is a process entry point, like ``huey_consumer tasks.huey``: a command that enqueues work or
watches the inbox needs the huey-backed triggers, which only the composition root in ``tasks`` builds.
Commands that only read or act in place take :func:`local_runtime` and never open the queue for it.
"""

from __future__ import annotations

from tasks import connect
from worker.runtime import Runtime, bootstrap


def local_runtime(*, migrate: bool = True) -> Runtime:
    """Settings, database and migrations (no queue triggers): for commands that do the work themselves."""
    return bootstrap(migrate=migrate)


def queue_runtime() -> Runtime:
    """The runtime with the queue's triggers installed: for commands that enqueue work or watch the inbox."""
    return connect()
