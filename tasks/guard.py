"""What huey sees of a failing task: a safe error text, never the exception that names a file or a user.

huey logs ``Unhandled exception in task …`` with the full traceback, stores the error (``repr`` and traceback)
as the task's result and in its task stats (``huey_event.error``). An exception raised by the worker can carry
a path (``PermissionError: … '/inbox/<user id>/<patient's name>.txt'``) or a value; so every task, periodic
task and start-up hook is wrapped here: the exception is caught in the task, logged once through
:func:`worker.errors.safe_error`, and replaced by :class:`TaskFailed` carrying that text only (no chained
cause, no traceback of the task's frames). huey still counts it as an error and retries a task that has
retries, exactly as before; its own control-flow exceptions pass through untouched.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from huey.exceptions import CancelExecution, HueyException, RetryTask

from worker.errors import safe_error

log = logging.getLogger("mediflux.tasks")

_HUEY_CONTROL = (CancelExecution, RetryTask, HueyException)  # locks, rate limits, timeouts: huey's own

F = TypeVar("F", bound=Callable[..., Any])


class TaskFailed(Exception):
    """A task failed; the message is :func:`~worker.errors.safe_error` of what was raised."""


def contained(fn: F) -> F:
    """``fn`` with its exceptions replaced by :class:`TaskFailed` (safe text), logged once without names."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _HUEY_CONTROL:
            raise
        except Exception as exc:  # noqa: BLE001 — every failure becomes a safe one
            error = safe_error(exc)
            log.warning("task %s failed: %s", fn.__name__, error)
            raise TaskFailed(error) from None

    return run  # type: ignore[return-value]
