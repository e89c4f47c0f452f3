"""Quarantine entries written before the one NIR detector: their names and sidecars masked in place.

Entries made since are masked when they are made (:func:`worker.quarantine.move_in`); this pass is for those an
older version left: a file named ``DUPONT 185037512345641.txt``, a sidecar whose ``original_name`` or
``message`` repeats the number. The housekeeping job runs it once per deployment (its state remembers it). The
quarantined file's *content* is kept as it came, for a retry (docs/privacy.md).

Order, so that a crash anywhere leaves the entry listed once and a re-run finishes the job: the masked sidecar is
written (durably) under the new name first, then the file is renamed to it, then the old sidecar is removed.
"""

from __future__ import annotations

import os
from pathlib import Path

from worker import quarantine as layout
from worker.fsync import sync_dir
from worker.privacy import mask_text, scrub


def remask(home: Path) -> int:
    """Mask every quarantine entry's name and sidecar that still shows a NIR; the number of entries changed."""
    directory = layout.folder(home)
    changed = 0
    for listed in layout.entries(home):
        try:
            entry = layout.find(home, listed.name)  # as it is now: an earlier step may have renamed onto it
        except FileNotFoundError:
            continue
        sidecar = scrub(entry.sidecar, numbers=False) if entry.sidecar is not None else None
        name = mask_text(entry.name)
        if name == entry.name and sidecar == entry.sidecar:
            continue
        if name == entry.name:
            layout.write_sidecar(entry.sidecar_path, sidecar or {})
        elif entry.orphan:
            new_sidecar = directory / (name + layout.SIDECAR)
            if not os.path.lexists(new_sidecar) and sidecar is not None:
                layout.write_sidecar(new_sidecar, sidecar)
            entry.sidecar_path.unlink(missing_ok=True)
            sync_dir(directory)
        else:
            target = layout.free_name(directory, name)
            layout.write_sidecar(directory / (target + layout.SIDECAR), sidecar or {})
            os.rename(entry.path, directory / target)
            sync_dir(directory)
            entry.sidecar_path.unlink(missing_ok=True)
            sync_dir(directory)
        changed += 1
    return changed
