"""Quarantine: bad files leave the inbox for ``<home>/quarantine/<name>`` with a ``<name>.error.json`` sidecar.

The sidecar holds the reason, the format guess, the size, the time and the user id when known — never
content. Only the operator's ``mediflux quarantine`` shows names; logs use :func:`files.ref`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.clock import utcnow
from worker.ingest.canonical import valid_user_id
from worker.filenames import printable, ref

log = logging.getLogger("mediflux.ingest")
SIDECAR = ".error.json"
NAME_MAX = 255


@dataclass(frozen=True)
class Quarantined:
    name: str
    sidecar: dict[str, Any]


def folder(home: Path) -> Path:
    return home / "quarantine"


def _name_for(directory: Path, name: str) -> str:
    """A free name in ``directory`` that leaves room for the sidecar suffix (names can be 255 bytes long).

    Only a quarantined *file* takes a name: a sidecar left without its file (a crash between the two steps of
    :func:`quarantine`) is overwritten when the same file comes back.
    """
    raw = os.fsencode(name)
    if raw.endswith(SIDECAR.encode()):
        raw += b".q"  # would be mistaken for a sidecar
    room = NAME_MAX - len(SIDECAR) - 12
    if len(raw) > room:
        digest = hashlib.sha256(raw).hexdigest()[:10]
        raw = raw[: room - 11].decode("utf-8", "ignore").encode() + b"-" + digest.encode()
    candidate = os.fsdecode(raw)
    n = 1
    while os.path.lexists(directory / candidate):
        n += 1
        candidate = os.fsdecode(raw) + f".{n}"
    return candidate


def _write_sidecar(path: Path, sidecar: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
        json.dump(sidecar, f, ensure_ascii=False, indent=1)
    os.replace(tmp, path)


def quarantine(
    path: str,
    home: Path,
    reason: str,
    message: str,
    *,
    format_guess: str | None = None,
    size: int | None = None,
    user_id: str | None = None,
) -> Quarantined | None:
    """Move ``path`` into quarantine with its sidecar; None when it could not be moved (logged, left in place).

    The sidecar is written first, then the file renamed next to it: a crash in between leaves the file in the
    inbox (quarantined again on the next pass, over the orphan sidecar), never a quarantined file without reason.
    """
    target_dir = folder(home)
    target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = _name_for(target_dir, os.path.basename(path))
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    sidecar = {
        "reason": reason,
        "message": message,
        "format_guess": format_guess,
        "size": size if size is not None else st.st_size,
        "quarantined_at": utcnow().isoformat(),
        "user_id": user_id,
        "original_name": printable(os.path.basename(path)),
    }
    sidecar_path = target_dir / (name + SIDECAR)
    _write_sidecar(sidecar_path, sidecar)
    try:
        os.rename(path, target_dir / name)  # never opens the file: safe for FIFOs, devices, links
    except FileNotFoundError:
        sidecar_path.unlink(missing_ok=True)
        return None
    except OSError as exc:
        if exc.errno == errno.EXDEV and stat.S_ISREG(st.st_mode):
            shutil.copy2(path, target_dir / name, follow_symlinks=False)
            os.unlink(path)
        else:
            sidecar_path.unlink(missing_ok=True)
            log.warning(
                "cannot quarantine %s (%s): %s; left in place",
                ref(path),
                reason,
                errno.errorcode.get(exc.errno or 0, "error"),
            )
            return None
    log.warning("quarantined %s: %s", ref(path), reason)
    return Quarantined(name, sidecar)


def entries(home: Path) -> list[Quarantined]:
    """Every quarantined file with its sidecar (an empty one when the sidecar is missing), oldest first."""
    directory = folder(home)
    if not directory.is_dir():
        return []
    out = []
    for entry in os.scandir(directory):
        if entry.name.endswith(SIDECAR) or entry.name.startswith("."):
            continue
        try:
            data = json.loads((directory / (entry.name + SIDECAR)).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {"reason": "unknown"}
        out.append(Quarantined(entry.name, data))
    return sorted(out, key=lambda q: (str(q.sidecar.get("quarantined_at") or ""), q.name))


def _checked(home: Path, name: str) -> Path:
    if not name or "/" in name or name in (".", "..") or name.endswith(SIDECAR):
        raise FileNotFoundError(name)
    path = folder(home) / name
    if not os.path.lexists(path):
        raise FileNotFoundError(name)
    return path


def retry(home: Path, inbox: Path, name: str) -> Path:
    """Put a quarantined file back into the inbox (its user folder when known); returns its new path."""
    path = _checked(home, name)
    sidecar_path = path.with_name(name + SIDECAR)
    try:
        user_id = json.loads(sidecar_path.read_text(encoding="utf-8")).get("user_id")
    except (OSError, ValueError):
        user_id = None
    target_dir = inbox / user_id if isinstance(user_id, str) and valid_user_id(user_id) else inbox
    target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = target_dir / name
    n = 1
    while os.path.lexists(target):
        n += 1
        target = target_dir / f"retry{n}-{name}"
    os.rename(path, target)
    sidecar_path.unlink(missing_ok=True)
    return target


def purge(home: Path) -> int:
    """Delete every quarantined file and sidecar; returns the number of files removed."""
    directory = folder(home)
    if not directory.is_dir():
        return 0
    removed = 0
    for entry in os.scandir(directory):
        os.unlink(entry.path)  # never follows: a quarantined link is removed, not its target
        removed += not entry.name.endswith(SIDECAR) and not entry.name.startswith(".")
    return removed
