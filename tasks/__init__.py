"""huey tasks: thin wrappers over plain functions in ``worker``.

``huey_consumer tasks.huey`` runs them; the app enqueues them by calling the
task functions (see README). Importing this package bootstraps the process.
"""

from tasks import (
    analysis,  # noqa: F401
    cache,  # noqa: F401
    ingest,  # noqa: F401
    ops,  # noqa: F401  (consumer heartbeat, metrics endpoint)
    periodic,  # noqa: F401  (registers the periodic tasks)
    retention,  # noqa: F401
)
from tasks.app import huey, runtime

__all__ = ["huey", "runtime"]
