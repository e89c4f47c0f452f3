"""Quarantined inbox files as the operator sees them, and "retry" (put the file back into the inbox).

The layout, the listing and the retry itself belong to ``worker.quarantine``; this module only
shapes them for the page (orphan sidecars are shown, never offered for retry). Original names
may contain patients' names, so entries are shown and addressed by ``ref`` — a sha256 prefix
of the name — never the name.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker import quarantine as layout
from worker.config import Settings
from worker.privacy import mask_nirs


@dataclass(frozen=True)
class QuarantineEntry:
    ref: str
    name: str = field(repr=False)  # may carry a patient's name: used to act on the file, never shown
    reason: str
    format: str | None
    size: int | None
    time: str | None
    orphan: bool = False  # only a sidecar is left: nothing to retry (retention removes it)
    user_id: str | None = field(default=None, repr=False)  # whose file: never shown, traced in the access log


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


def _time(entry: layout.Entry) -> str | None:
    """When it was quarantined (the sidecar's time, else the arrival in the folder), ISO UTC to the second."""
    stated = _text((entry.sidecar or {}).get("quarantined_at"), 19)
    return stated or _dt.datetime.fromtimestamp(entry.arrived_at, _dt.UTC).isoformat()[:19]


def list_entries(settings: Settings, limit: int = 200) -> list[QuarantineEntry]:
    """Quarantine entries (``worker.quarantine.entries``), newest first, at most ``limit``."""
    out = []
    for q in reversed(layout.entries(settings.home)):
        message = (q.sidecar or {}).get("message")
        reason = f"{q.reason}: {message}" if message else q.reason
        out.append(
            QuarantineEntry(
                ref=ref_of(q.name),
                name=q.name,
                reason=_clean_reason(reason, q.name),
                format=_text((q.sidecar or {}).get("format_guess"), 32),
                size=q.size,
                time=_time(q),
                orphan=q.orphan,
                user_id=q.user_id,
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
        return layout.retry(settings.home, settings.inbox, entry.name)
    except FileNotFoundError:
        raise RetryError(f"no quarantined file with ref {ref[:12]!r}") from None
