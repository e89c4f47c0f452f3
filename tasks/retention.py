"""Erasure task: a thin huey wrapper over worker.retention.erase (the database stays the ledger).

If the consumer dies mid-erasure the task is lost, but the ``erasure_requests``
row is not: the ``erasure_backlog`` periodic job finishes it.
"""

from __future__ import annotations

import logging

from huey import Huey
from huey.api import TaskWrapper

from tasks.guard import contained
from worker.errors import safe_error
from worker.retention import erase
from worker.runtime import Runtime
from worker.userids import InvalidUserId

log = logging.getLogger("mediflux.tasks.retention")


def register(huey: Huey, runtime: Runtime) -> TaskWrapper:
    @huey.task()
    @contained
    def erase_user(user_id: str) -> str | None:
        """Erase everything held about ``user_id``; returns the final state (done / flush_pending), None if
        refused."""
        try:
            return erase.erase_user(runtime.settings, user_id).state
        except (InvalidUserId, erase.LegalHoldError) as exc:
            log.warning("erase_user refused: %s", safe_error(exc))
            return None

    return erase_user
