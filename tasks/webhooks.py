"""Webhook delivery task: a thin huey wrapper over worker.webhooks.deliver (the outbox row is the ledger).

A failed attempt schedules the next one at its backoff delay. A task lost with its consumer (SIGKILL) loses
nothing: the ``webhook_deliveries`` job, and a scan at each consumer start, trigger every pending row again.
"""

from __future__ import annotations

import logging
import threading

from huey import Huey
from huey.api import TaskWrapper

from tasks.guard import contained
from worker.runtime import Runtime
from worker.webhooks import deliver

log = logging.getLogger("mediflux.tasks.webhooks")


def register(huey: Huey, runtime: Runtime) -> TaskWrapper:
    @huey.task()
    @contained
    def deliver_webhook(delivery_id: int) -> str:
        """Attempt one delivery (an id only: no payload in the queue); schedule the retry if it failed."""
        outcome = deliver.attempt(runtime.settings, delivery_id)
        if outcome.retry_in is not None:
            deliver_webhook.schedule((delivery_id,), delay=outcome.retry_in)
        return outcome.status

    started = threading.Event()

    @huey.on_startup()
    def rediscover_at_start() -> None:
        # Once per process (not per worker thread): what a killed consumer was sending resumes at its claim's end.
        if not started.is_set():
            started.set()
            try:
                deliver.rediscover(runtime.settings, runtime.triggers)
            except Exception as exc:  # noqa: BLE001 — the webhook_deliveries job rediscovers them each minute
                log.warning("webhook rediscovery at start failed: %s", type(exc).__name__)

    return deliver_webhook
