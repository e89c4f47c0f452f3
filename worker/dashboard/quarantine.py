"""Quarantined inbox files as the operator sees them, and "retry" (put the file back into the inbox).

The layout, the listing and the retry itself belong to ``worker.quarantine``; this module only
shapes them for the page (orphan sidecars are shown, never offered for retry). What is shown follows
:mod:`worker.quarantine_view`, the policy ``mediflux quarantine list`` follows too: entries are shown and
addressed by ``ref`` — a sha256 prefix of the name — never by a name or a user id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from worker import quarantine as layout
from worker import quarantine_view as view
from worker.config import Settings

ref_of = view.ref_of  # the one ref rule (worker.quarantine_view)


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


def list_entries(settings: Settings, limit: int = 200) -> list[QuarantineEntry]:
    """Quarantine entries (``worker.quarantine.entries``) as :mod:`worker.quarantine_view` shows them (no names),
    newest first, at most ``limit``."""
    out = []
    for q in reversed(layout.entries(settings.home)):
        row = view.shown(q)
        out.append(
            QuarantineEntry(
                ref=row["ref"],
                name=q.name,
                reason=row["reason"],
                format=row["format"],
                size=row["size"],
                time=row["quarantined_at"],
                orphan=row["orphan"],
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
    entry = view.by_ref(settings.home, ref)
    if entry is None:
        raise RetryError(f"no quarantined file with ref {ref[:12]!r}")
    try:
        return layout.retry(settings.home, settings.inbox, entry.name)
    except FileNotFoundError:
        raise RetryError(f"no quarantined file with ref {ref[:12]!r}") from None
