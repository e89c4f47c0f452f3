"""``connect()``: the composition root of every process that uses the queue (consumer, app, CLI, watcher).

It bootstraps the runtime, registers each task module's tasks on the runtime's huey (one ``register``
function per module, nothing at import time) and installs :class:`HueyTriggers`, the one implementation of
:class:`worker.triggers.Triggers` on huey. Calling it again returns the same runtime.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from huey.api import TaskWrapper

from tasks import analysis, cache, ingest, ocr, ops, periodic, retention, webhooks
from worker.config import Settings
from worker.ingest import tokens
from worker.retention import erase
from worker.runtime import Runtime, bootstrap

_lock = threading.Lock()


class HueyTriggers:
    """:class:`worker.triggers.Triggers` on huey: each trigger enqueues its task (JSON arguments only)."""

    def __init__(self, runtime: Runtime) -> None:
        huey = runtime.huey
        self.settings = runtime.settings
        self.batch = runtime.settings.ingest_batch
        self.ingest_files: TaskWrapper = ingest.register(huey, runtime)
        self.analyze_documents: TaskWrapper = analysis.register(huey)
        self.refresh_entry: TaskWrapper = cache.register(huey)
        self.erase_user_task: TaskWrapper = retention.register(huey, runtime)
        self.run_periodic_job: TaskWrapper = periodic.register(huey, runtime)
        self.ocr_files: TaskWrapper = ocr.register(huey, runtime)
        ops.register(huey, runtime)
        self.deliver_webhook_task: TaskWrapper = webhooks.register(huey, runtime)

    def ingest(self, paths: Sequence[str]) -> int:
        tasks = 0
        for start in range(0, len(paths), self.batch):
            keys = tokens.keys_of(self.settings, paths[start : start + self.batch])
            if keys:
                self.ingest_files(keys)
                tasks += 1
        return tasks

    def analyze(self, document_ids: Sequence[int]) -> None:
        self.analyze_documents(list(document_ids))

    def ocr(self, paths: Sequence[str]) -> int:
        keys = tokens.keys_of(self.settings, paths)
        for key in keys:  # one task per document: the pool runs several side by side
            self.ocr_files([key])
        return len(keys)

    def refresh_cache(self, source: str, endpoint: str, params: Mapping[str, Any]) -> None:
        self.refresh_entry(source, endpoint, dict(params))

    def erase_user(self, user_id: str) -> None:
        # The ledger first (InvalidUserId / LegalHoldError here, to the caller); the queue carries the row id.
        self.erase_user_task(erase.request_erasure(self.settings, user_id))

    def run_job(self, name: str) -> None:
        self.run_periodic_job(name)

    def deliver_webhook(self, delivery_id: int, delay: float = 0.0) -> None:
        if delay > 0:
            self.deliver_webhook_task.schedule((delivery_id,), delay=delay)
        else:
            self.deliver_webhook_task(delivery_id)


def connect(settings: Settings | None = None) -> Runtime:
    """The process's runtime with the huey tasks registered and their triggers installed (once)."""
    runtime = bootstrap(settings)
    with _lock:
        if not isinstance(runtime.triggers, HueyTriggers):
            runtime.use_triggers(HueyTriggers(runtime))
    return runtime
