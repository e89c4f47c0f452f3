"""What the data API returns: plain frozen dataclasses, never live model rows.

A peewee row can lazy-load a foreign key, which in async code would run a query
outside the event-loop bridge; these values hold everything already loaded and
are safe to pass around, cache or serialise (:func:`as_json`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Profile:
    user_id: str
    profile: dict[str, Any]
    created_at: _dt.datetime
    updated_at: _dt.datetime


@dataclass(frozen=True)
class QueryRecord:
    id: int
    user_id: str
    text: str
    intent: str | None
    result: Any
    created_at: _dt.datetime


@dataclass(frozen=True)
class Decision:
    id: int
    step: str
    decision: dict[str, Any]
    decided_at: _dt.datetime


@dataclass(frozen=True)
class Pathway:
    id: int
    user_id: str
    condition: str
    pathway: dict[str, Any]
    created_at: _dt.datetime
    decisions: tuple[Decision, ...] = ()

    def latest_decisions(self) -> dict[str, Decision]:
        """The last decision on each step (decisions are kept as a history)."""
        latest: dict[str, Decision] = {}
        for d in self.decisions:
            latest[d.step] = d
        return latest


@dataclass(frozen=True)
class DocumentSummary:
    id: int
    original_filename: str
    format: str
    status: str
    document_type: str | None
    analysis: dict[str, Any] | None
    created_at: _dt.datetime


def as_json(value: Any) -> Any:
    """A view (or list/dict of views) as JSON-ready data: datetimes as ISO 8601 UTC strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Submission:
    """A document the app submitted (or dropped into the inbox), and where it is now (docs/documents.md)."""

    id: str
    state: str  # received | ocr | ingested | analysed | duplicate | rejected
    document_id: int | None
    reason: str | None  # for rejected: a stable code (worker.submissions.reasons)
    message: dict[str, str] | None  # for rejected: {"fr": …, "en": …}, fit to show a patient
    summary: dict[str, Any] | None  # once analysed: document type, review needs, medications count
    filename: str | None
    content_type: str | None
    sha256: str | None
    size: int | None
    created_at: _dt.datetime
    updated_at: _dt.datetime

    @property
    def final(self) -> bool:
        return self.state in ("analysed", "duplicate", "rejected")


@dataclass(frozen=True)
class Document:
    """One stored document of the user, with its pages, analysis and matched medications."""

    id: int
    original_filename: str
    format: str
    pages: tuple[dict[str, Any], ...]
    analysis: dict[str, Any] | None
    medications: tuple[dict[str, Any], ...]
    created_at: _dt.datetime
