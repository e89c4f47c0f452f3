"""Quarantined inbox files as the operator sees them, and "retry" (move the file back to the inbox).

Layout (issue 3's contract): ``<home>/quarantine/<name>`` plus ``<name>.error.json``
with reason, format guess, size, time and ``user_id`` when known. Original names
may contain patients' names, so entries are shown and addressed by ``ref``: a
sha256 prefix of the name, never the name itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.config import Settings
from worker.privacy import mask_nirs

SIDECAR_SUFFIX = ".error.json"
_SAFE_USER_DIR = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")


@dataclass(frozen=True)
class QuarantineEntry:
    ref: str
    path: Path
    reason: str
    format: str | None
    size: int | None
    time: str | None
    sha256: str | None
    user_dir: str | None


def quarantine_dir(settings: Settings) -> Path:
    return settings.home / "quarantine"


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


def _read_sidecar(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"reason": "sidecar unreadable"}
    return data if isinstance(data, dict) else {"reason": "sidecar unreadable"}


def list_entries(settings: Settings, limit: int = 200) -> list[QuarantineEntry]:
    """Quarantined files, newest first (by file time), at most ``limit``."""
    folder = quarantine_dir(settings)
    if not folder.is_dir():
        return []
    files = []
    for p in folder.iterdir():
        try:
            if p.is_file() and not p.name.endswith(SIDECAR_SUFFIX):
                files.append((p.stat().st_mtime, p.stat().st_size, p))
        except OSError:  # retried or removed meanwhile
            continue
    files.sort(key=lambda item: item[0], reverse=True)
    out = []
    for _mtime, size, path in files[:limit]:
        sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
        meta = _read_sidecar(sidecar) if sidecar.exists() else {"reason": "no sidecar"}
        sha = meta.get("sha256")
        user = meta.get("user_id")
        out.append(QuarantineEntry(
            ref=ref_of(path.name), path=path, reason=_clean_reason(meta.get("reason"), path.name),
            format=str(meta["format"])[:32] if meta.get("format") else None,
            size=meta["size"] if isinstance(meta.get("size"), int) else size,
            time=str(meta["time"])[:19] if meta.get("time") else None,
            sha256=sha[:12] if isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{12,64}", sha) else None,
            user_dir=str(user) if user is not None and _SAFE_USER_DIR.match(str(user)) else None,
        ))
    return out


class RetryError(Exception):
    """The file cannot be retried; the message names no file."""


def retry(settings: Settings, ref: str) -> Path:
    """Move the quarantined file ``ref`` back into the inbox (its user's folder when known).

    The sidecar is removed only after the move, so a crash leaves the file in one
    place or the other, never lost. Returns the new path.
    """
    entry = next((e for e in list_entries(settings, limit=10_000) if e.ref == ref), None)
    if entry is None:
        raise RetryError(f"no quarantined file with ref {ref[:12]!r}")
    target_dir = settings.inbox / entry.user_dir if entry.user_dir else settings.inbox
    target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = target_dir / entry.path.name
    if target.exists():
        raise RetryError(f"ref {ref}: a file of the same name is already in the inbox")
    try:
        os.replace(entry.path, target)
    except OSError:
        shutil.move(str(entry.path), str(target))  # quarantine and inbox on different file systems
    entry.path.with_name(entry.path.name + SIDECAR_SUFFIX).unlink(missing_ok=True)
    return target
