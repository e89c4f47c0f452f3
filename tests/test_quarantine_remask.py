"""Quarantine entries an older version left with a NIR in their name or sidecar are masked in place, once, by the
housekeeping job; their content is kept for a retry, a crash midway leaves nothing half-done."""

from __future__ import annotations

import json
from pathlib import Path

from worker import quarantine
from worker.privacy import find_nirs
from worker.quarantine_remask import remask

NIR = "185037512345641"
MASKED = "1 85 03 ** *** *** **"


def _old_entry(home: Path, name: str, content: bytes) -> Path:
    """An entry as versions before the one detector wrote it: name and sidecar in clear."""
    folder = quarantine.folder(home)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    sidecar = {
        "reason": "invalid_json",
        "message": f"line 1: bad value near 1 85 03 75 123 456 41 in {name}",
        "format_guess": "json",
        "size": len(content),
        "quarantined_at": "2026-01-02T03:04:05+00:00",
        "user_id": "u-1",
        "original_name": name,
    }
    (folder / (name + quarantine.SIDECAR)).write_text(json.dumps(sidecar))
    return folder / name


def _listing(home: Path) -> str:
    folder = quarantine.folder(home)
    return "\n".join(sorted(p.name for p in folder.iterdir())) + "".join(
        p.read_text() for p in folder.iterdir() if p.name.endswith(quarantine.SIDECAR)
    )


def test_old_entries_are_masked_in_name_and_sidecar_and_keep_their_content(tmp_path):
    home = tmp_path / "home"
    _old_entry(home, f"DUPONT Jean {NIR}.json", b'{"nir": "185037512345641"')
    _old_entry(home, "clean.json", b"{")
    assert find_nirs(_listing(home))
    assert remask(home) == 2  # the clean name's sidecar message repeats a number too
    listing = _listing(home)
    assert not find_nirs(listing) and NIR not in listing and "123 456" not in listing
    (masked,) = [e for e in quarantine.entries(home) if e.name != "clean.json"]
    assert masked.name == f"DUPONT Jean {MASKED}.json" and masked.user_id == "u-1" and masked.reason == "invalid_json"
    assert masked.sidecar["original_name"] == f"DUPONT Jean {MASKED}.json"
    assert masked.path.read_bytes() == b'{"nir": "185037512345641"'  # the content stays, for a retry
    assert len(quarantine.entries(home)) == 2
    assert remask(home) == 0  # nothing left to do


def test_a_crash_after_the_new_sidecar_is_written_is_finished_by_the_next_pass(tmp_path):
    home = tmp_path / "home"
    path = _old_entry(home, f"scan {NIR}.json", b"{")
    folder = quarantine.folder(home)
    old = json.loads((folder / (path.name + quarantine.SIDECAR)).read_text())
    # What the first step leaves if the process dies right after it: the masked sidecar under the new name.
    quarantine.write_sidecar(folder / f"scan {MASKED}.json{quarantine.SIDECAR}", {**old, "original_name": "x"})
    assert remask(home) >= 1
    assert not find_nirs(_listing(home))
    (entry,) = quarantine.entries(home)
    assert entry.name == f"scan {MASKED}.json" and not entry.orphan and entry.path.read_bytes() == b"{"
    assert entry.sidecar["original_name"] == f"scan {MASKED}.json"


def test_housekeeping_runs_it_once(tmp_path, settings, database):
    import time

    from models.clock import utcnow
    from worker import housekeeping
    from worker.periodic import JobContext

    _old_entry(settings.home, f"scan {NIR}.json", b"{")
    ctx = JobContext("housekeeping", utcnow(), time.monotonic() + 60, settings)
    assert housekeeping.run(ctx)["quarantine_remasked"] == 1 and ctx.state["quarantine_remasked"] is True
    _old_entry(settings.home, f"late {NIR}.json", b"{")  # not an older version's: new entries are masked when made
    assert "quarantine_remasked" not in housekeeping.run(ctx)
