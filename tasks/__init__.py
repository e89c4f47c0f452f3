"""huey tasks: thin wrappers over plain functions in ``worker``.

``huey_consumer tasks.huey`` runs them; the app enqueues them by calling the
task functions (see README). Importing this package bootstraps the process.
"""

from tasks.app import huey, runtime
from tasks import periodic  # noqa: F401  (registers the periodic tasks)
from tasks import analysis  # noqa: F401
from tasks import ops  # noqa: F401  (consumer heartbeat, metrics endpoint)
from tasks import retention  # noqa: F401
from tasks import cache  # noqa: F401
from tasks import ingest  # noqa: F401

__all__ = ["huey", "runtime"]
