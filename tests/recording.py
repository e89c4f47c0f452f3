"""A :class:`worker.triggers.Triggers` for tests: records what domain code asks for, optionally does it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any


class RecordingTriggers:
    """Records every trigger. ``batch`` splits ``ingest`` calls as the huey triggers do; ``on_ingest``
    runs each batch (e.g. ingests it, standing in for the consumer)."""

    def __init__(self, batch: int | None = None, on_ingest: Callable[[list[str]], Any] | None = None) -> None:
        self.batch = batch
        self.on_ingest = on_ingest
        self.batches: list[list[str]] = []
        self.analysed: list[list[int]] = []
        self.refreshed: list[tuple[str, str, dict[str, Any]]] = []
        self.erased: list[str] = []
        self.jobs: list[str] = []
        self.ocred: list[list[str]] = []
        self.webhooks: list[tuple[int, float]] = []

    def ingest(self, paths: Sequence[str]) -> int:
        size = self.batch or max(1, len(paths))
        chunks = [list(paths[i : i + size]) for i in range(0, len(paths), size)]
        for chunk in chunks:
            self.batches.append(chunk)
            if self.on_ingest:
                self.on_ingest(chunk)
        return len(chunks)

    def analyze(self, document_ids: Sequence[int]) -> None:
        self.analysed.append(list(document_ids))

    def ocr(self, paths: Sequence[str]) -> int:
        self.ocred.append(list(paths))
        return len(paths)

    def refresh_cache(self, source: str, endpoint: str, params: Mapping[str, Any]) -> None:
        self.refreshed.append((source, endpoint, dict(params)))

    def erase_user(self, user_id: str) -> None:
        self.erased.append(user_id)

    def run_job(self, name: str) -> None:
        self.jobs.append(name)

    def deliver_webhook(self, delivery_id: int, delay: float = 0.0) -> None:
        self.webhooks.append((delivery_id, delay))

    @property
    def paths(self) -> list[str]:
        return [p for b in self.batches for p in b]
