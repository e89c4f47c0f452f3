"""The dashboard's few write actions. Each is checked, logged (ids only) and safe to repeat.

Enabled only with ``MEDIFLUX_DASHBOARD_ACTIONS=1`` and a ``MEDIFLUX_DASHBOARD_TOKEN``;
the server checks the token (constant-time) before calling anything here.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from huey import Huey

from models import PeriodicJob
from models.clock import utcnow
from worker.config import Settings
from worker.dashboard import quarantine
from worker.schedule import PERIODIC_JOBS

log = logging.getLogger("mediflux.dashboard")
_TASK_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# What the page says after an action: a fixed text per outcome code. The redirect carries the code only
# (``/?done=job-due``), so no text from a request, a file name or a link can appear in the trusted banner.
MESSAGES: dict[str, str] = {
    "retried": "the quarantined file was moved back to the inbox",
    "revoked": "the task was revoked",
    "job-due": "the job is due now: the next scheduler tick runs it",
    "no-such-file": "refused: no quarantined file with this ref (already retried or removed)",
    "bad-task-id": "refused: not a task id",
    "no-such-job": "refused: no such periodic job",
}


def message_for(code: str | None) -> str | None:
    """The fixed banner text of an outcome code; None for anything else (nothing is echoed)."""
    return MESSAGES.get(code or "")


@dataclass(frozen=True)
class Done:
    """An action's outcome: the code the page shows (:data:`MESSAGES`) and a log detail (ids only)."""

    code: str
    detail: str


class ActionError(Exception):
    """Refused or impossible; ``code`` names the page's message, the text (ids only) goes to the log."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        super().__init__(detail)


def token_ok(settings: Settings, supplied: str | None) -> bool:
    """Constant-time comparison with the configured token; False when actions are off."""
    expected = settings.dashboard_token
    if not settings.dashboard_actions or not expected or not supplied:
        return False
    return hmac.compare_digest(expected.encode(), supplied.encode())


def retry_quarantined(settings: Settings, huey: Huey, form: Mapping[str, str]) -> Done:
    ref = form.get("ref", "")
    try:
        quarantine.retry(settings, ref)
    except quarantine.RetryError as exc:
        raise ActionError("no-such-file", str(exc)) from None
    return Done("retried", f"quarantined file {ref[:12]} moved back to the inbox")


def revoke_task(settings: Settings, huey: Huey, form: Mapping[str, str]) -> Done:
    task_id = form.get("task_id", "")
    if not _TASK_ID.match(task_id):
        raise ActionError("bad-task-id", "not a task id")
    huey.revoke_by_id(task_id)
    return Done("revoked", f"task {task_id} revoked")


def run_job_now(settings: Settings, huey: Huey, form: Mapping[str, str]) -> Done:
    """Make the job due now; the next scheduler tick (within a minute) runs it, claimed as usual."""
    name = form.get("name", "")
    if name not in PERIODIC_JOBS:
        raise ActionError("no-such-job", "no such periodic job")
    PeriodicJob.update(next_due_at=utcnow()).where(PeriodicJob.name == name).execute()
    return Done("job-due", f"job {name} is due now: the next scheduler tick runs it")


ACTIONS: dict[str, Callable[[Settings, Huey, Mapping[str, str]], Done]] = {
    "retry": retry_quarantined,
    "revoke": revoke_task,
    "run-job": run_job_now,
}


def perform(name: str, settings: Settings, huey: Huey, form: Mapping[str, str]) -> str:
    """Run action ``name``, log the outcome (action name and ids; never file names) and return its code."""
    try:
        done = ACTIONS[name](settings, huey, form)
    except ActionError as exc:
        log.warning("dashboard action %s refused: %s", name, exc)
        return exc.code
    log.info("dashboard action %s: %s", name, done.detail)
    return done.code
