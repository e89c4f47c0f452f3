"""Erasure task: a thin huey wrapper over worker.retention.erase (the database stays the ledger).

The trigger records the request first (``erase.request_erasure``) and enqueues its row id only, so the
queue never holds the user id. If the consumer dies mid-erasure the task is lost, but the
``erasure_requests`` row is not: the ``erasure_backlog`` periodic job finishes it.
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
    def erase_user(request_id: int | str) -> str | None:
        """Carry out erasure request ``request_id`` (a row of ``erasure_requests``: the task never carries the
        user id); returns the final state (done / flush_pending), None if refused or unknown. A string is a
        user id enqueued by an older version: still honoured."""
        try:
            if isinstance(request_id, str):
                return erase.erase_user(runtime.settings, request_id, huey=huey).state
            result = erase.erase_request(runtime.settings, int(request_id), huey=huey)
            return result.state if result else None
        except (InvalidUserId, erase.LegalHoldError) as exc:
            log.warning("erase_user refused: %s", safe_error(exc))
            return None

    return erase_user
