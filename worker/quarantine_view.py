"""How operator tools show a quarantine entry: one policy for the dashboard and ``mediflux quarantine``.

A quarantined file's name, its original name and the user id in its sidecar may carry a patient's name or an
e-mail address, so by default an entry is shown and addressed by its **ref** (a sha256 prefix of its name,
stable across listings) with its reason made safe (one short line, the file's name replaced, NIRs masked), its
format guess, size and time. The names and the user id are shown only to an operator who asks for them
(``mediflux quarantine list --show-names``); the dashboard never asks. The entries themselves come from
:func:`worker.quarantine.entries`, the one listing.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path
from typing import Any

from worker import quarantine
from worker.privacy import mask_nirs

REF_LENGTH = 12


def ref_of(name: str) -> str:
    """Opaque, stable id of a quarantined file: a sha256 prefix of its name."""
    return hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:REF_LENGTH]


def _text(value: Any, limit: int) -> str | None:
    return str(value)[:limit] if value not in (None, "") else None


def reason(entry: quarantine.Entry) -> str:
    """The sidecar's reason and message on one short line, without the file's name, NIRs masked."""
    message = (entry.sidecar or {}).get("message")
    raw = f"{entry.reason}: {message}" if message else entry.reason
    text = str(raw).splitlines()[0] if str(raw).strip() else "unknown"
    original = str((entry.sidecar or {}).get("original_name") or "")
    tokens = {entry.name, Path(entry.name).stem, original, Path(original).stem} - {""}
    for token in sorted(tokens, key=len, reverse=True):
        text = text.replace(token, "<file>")
    return mask_nirs(text)[0][:160]


def quarantined_at(entry: quarantine.Entry) -> str | None:
    """When it was quarantined (the sidecar's time, else the arrival in the folder), ISO UTC to the second."""
    stated = _text((entry.sidecar or {}).get("quarantined_at"), 19)
    return stated or _dt.datetime.fromtimestamp(entry.arrived_at, _dt.UTC).isoformat()[:19]


def shown(entry: quarantine.Entry, *, names: bool = False) -> dict[str, Any]:
    """One entry as operator tools show it; the name, original name and user id only with ``names``."""
    row: dict[str, Any] = {
        "ref": ref_of(entry.name),
        "reason": reason(entry),
        "format": _text((entry.sidecar or {}).get("format_guess"), 32),
        "size": entry.size,
        "quarantined_at": quarantined_at(entry),
        "orphan": entry.orphan,
    }
    if names:
        row |= {
            "name": entry.name,
            "original_name": (entry.sidecar or {}).get("original_name"),
            "user_id": entry.user_id,
        }
    return row


def by_ref(home: Path, ref: str) -> quarantine.Entry | None:
    """The entry whose ref is ``ref`` (None when there is none)."""
    return next((e for e in quarantine.entries(home) if ref and ref_of(e.name) == ref), None)
