"""The dashboard's few write actions. Each is checked, logged (ids only) and safe to repeat.

Enabled only with ``MEDIFLUX_DASHBOARD_ACTIONS=1`` and a ``MEDIFLUX_DASHBOARD_TOKEN``;
the server checks the token (constant-time) before calling anything here.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Mapping

from huey import Huey

from models import PeriodicJob
from models.clock import utcnow
from worker.config import Settings
from worker.dashboard import quarantine
from worker.schedule import PERIODIC_JOBS

log = logging.getLogger("mediflux.dashboard")
_TASK_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class ActionError(Exception):
    """Refused or impossible; the message is safe to show (ids only)."""


def token_ok(settings: Settings, supplied: str | None) -> bool:
    """Constant-time comparison with the configured token; False when actions are off."""
    expected = settings.dashboard_token
    if not settings.dashboard_actions or not expected or not supplied:
        return False
    return hmac.compare_digest(expected.encode(), supplied.encode())


def retry_quarantined(settings: Settings, huey: Huey, form: Mapping[str, str]) -> str:
    ref = form.get("ref", "")
    try:
        quarantine.retry(settings, ref)
    except quarantine.RetryError as exc:
        raise ActionError(str(exc)) from None
    return f"quarantined file {ref} moved back to the inbox"


def revoke_task(settings: Settings, huey: Huey, form: Mapping[str, str]) -> str:
    task_id = form.get("task_id", "")
    if not _TASK_ID.match(task_id):
        raise ActionError("not a task id")
    huey.revoke_by_id(task_id)
    return f"task {task_id} revoked"


def run_job_now(settings: Settings, huey: Huey, form: Mapping[str, str]) -> str:
    """Make the job due now; the next scheduler tick (within a minute) runs it, claimed as usual."""
    name = form.get("name", "")
    if name not in PERIODIC_JOBS:
        raise ActionError("no such periodic job")
    PeriodicJob.update(next_due_at=utcnow()).where(PeriodicJob.name == name).execute()
    return f"job {name} is due now: the next scheduler tick runs it"


ACTIONS: dict[str, Callable[[Settings, Huey, Mapping[str, str]], str]] = {
    "retry": retry_quarantined,
    "revoke": revoke_task,
    "run-job": run_job_now,
}


def perform(name: str, settings: Settings, huey: Huey, form: Mapping[str, str]) -> str:
    """Run action ``name`` and log the outcome (action name and ids; never file names)."""
    try:
        message = ACTIONS[name](settings, huey, form)
    except ActionError as exc:
        log.warning("dashboard action %s refused: %s", name, exc)
        raise
    log.info("dashboard action %s: %s", name, message)
    return message
