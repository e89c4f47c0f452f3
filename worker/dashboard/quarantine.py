"""Quarantined inbox files as the operator sees them, and "retry" (put the file back into the inbox).

The layout and the retry itself belong to ingestion (``worker.ingest.quarantine``); this
module only shapes them for the page. Original names may contain patients' names, so
entries are shown and addressed by ``ref`` — a sha256 prefix of the name — never the name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.config import Settings
from worker.ingest import quarantine as ingest_quarantine
from worker.privacy import mask_nirs


@dataclass(frozen=True)
class QuarantineEntry:
    ref: str
    name: str = field(repr=False)  # may carry a patient's name: used to act on the file, never shown
    reason: str
    format: str | None
    size: int | None
    time: str | None


def ref_of(name: str) -> str:
    """Opaque, stable id of a quarantined file: sha256 prefix of its name."""
    return hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def _clean_reason(reason: Any, name: str) -> str:
    """The sidecar reason, defensively: no filename, no NIR, one short line."""
    text = str(reason or "unknown").splitlines()[0] if str(reason or "").strip() else "unknown"
    stem = Path(name).stem
    for token in sorted({name, stem} - {""}, key=len, reverse=True):
        text = text.replace(token, "<file>")
    return mask_nirs(text)[0][:160]


def _text(value: Any, limit: int) -> str | None:
    return str(value)[:limit] if value not in (None, "") else None


def list_entries(settings: Settings, limit: int = 200) -> list[QuarantineEntry]:
    """Quarantined files, newest first, at most ``limit``."""
    out = []
    for q in reversed(ingest_quarantine.entries(settings.home)):
        meta = q.sidecar
        reason = str(meta.get("reason") or "unknown")
        if meta.get("message"):
            reason = f"{reason}: {meta['message']}"
        out.append(
            QuarantineEntry(
                ref=ref_of(q.name),
                name=q.name,
                reason=_clean_reason(reason, q.name),
                format=_text(meta.get("format_guess"), 32),
                size=meta["size"] if isinstance(meta.get("size"), int) else None,
                time=_text(meta.get("quarantined_at"), 19),
            )
        )
        if len(out) >= limit:
            break
    return out


class RetryError(Exception):
    """The file cannot be retried; the message names no file."""


def retry(settings: Settings, ref: str) -> Path:
    """Put the quarantined file ``ref`` back into the inbox (its user's folder when known); returns the new path."""
    entry = next((e for e in list_entries(settings, limit=1_000_000) if e.ref == ref), None)
    if entry is None:
        raise RetryError(f"no quarantined file with ref {ref[:12]!r}")
    try:
        return ingest_quarantine.retry(settings.home, settings.inbox, entry.name)
    except FileNotFoundError:
        raise RetryError(f"no quarantined file with ref {ref[:12]!r}") from None
