"""Every folder the worker creates is 0700 and every file 0600, whatever the umask: a real run (ingest with a
processed copy and a quarantined file, the queue, an export, a BDPM sync, an OCRed photo) under ``umask 022``,
then a walk of the data folder."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from tests import ocr_fixtures as fx
from tests.bdpm_data import reference_folder, subset_files
from tests.bdpm_server import BdpmSite
from tests.conftest import ROOT, _clean_env
from tests.ingest_fixtures import one_per_format
from models.private import private_dir


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        umask=0o022,
    )


def _modes(top: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(top.lstat().st_mode)}
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            path = Path(root) / name
            found[path.relative_to(top).as_posix()] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_a_real_run_leaves_only_private_folders_and_files(tmp_path):
    top = tmp_path / "srv"  # nothing exists yet: the worker creates srv/, srv/data/ and everything under them
    home = top / "data" / "home"
    env = _clean_env() | {
        "MEDIFLUX_HOME": str(home),
        "MEDIFLUX_KEEP_PROCESSED": "1",
        "MEDIFLUX_INGEST_GRACE_SECONDS": "0",
        "MEDIFLUX_QUEUE_NAME": "modes",
    }
    outside = tmp_path / "scans"
    outside.mkdir()
    good = outside / "ordonnance.txt"
    good.write_bytes(one_per_format()[".txt"].read_bytes())
    bad = outside / "broken.json"
    bad.write_text('{"pages": [')
    done = _cli(env, "ingest", "--now", "--user", "u-modes", str(good), str(bad))
    assert done.returncode == 0, done.stderr
    # A file the app wrote into the inbox with its own umask (0644) is private once quarantined.
    landed = home / "inbox" / "u-modes" / "torn.json"
    landed.write_text('{"pages": ')
    landed.chmod(0o644)
    again = _cli(env, "ingest", "--now", str(landed))
    assert again.returncode == 0, again.stderr
    later = outside / "later.txt"
    later.write_text("Ordonnance du Dr Martin : paracétamol 1 g")
    queued = _cli(env, "ingest", "--user", "u-modes", str(later))  # enqueued: the queue file is created
    assert queued.returncode == 0, queued.stderr
    exported = _cli(env, "export-user", "u-modes", "-o", str(home / "u-modes-export.json"))
    assert exported.returncode == 0, exported.stderr
    # The BDPM mirror's downloads (staging, then the live folder) and an OCRed photo (its job folder, the
    # machine-wide slots) under the same umask.
    ref = reference_folder(tmp_path / "bdpm-ref")
    with BdpmSite(subset_files(ref, tmp_path / "bdpm-small", specialities=40)) as site:
        synced = _cli(env | {"MEDIFLUX_BDPM_FILES_URL": site.url}, "bdpm", "sync", "--json")
    assert synced.returncode == 0 and '"updated"' in synced.stdout, synced.stdout + synced.stderr
    photo = outside / "photo.png"
    photo.write_bytes(fx.encode(fx.page_image(["Ordonnance du Dr Martin", "paracetamol 1 g"]), "PNG"))
    if shutil.which("tesseract"):
        ocred = _cli(env, "ingest", "--now", "--user", "u-modes", str(photo))
        assert ocred.returncode == 0, ocred.stderr

    modes = _modes(top)
    assert any(p.startswith("data/home/processed/u-modes/") for p in modes), sorted(modes)
    assert len([p for p in modes if p.startswith("data/home/quarantine/") and p.endswith(".json")]) >= 4, sorted(modes)
    assert {"data/home/mediflux.db", "data/home/queue.db", "data/home/u-modes-export.json"} <= set(modes)
    assert "data/home/inbox/u-modes" in modes
    assert "data/home/bdpm/files/CIS_bdpm.txt" in modes, sorted(modes)
    if shutil.which("tesseract"):
        assert "data/home/ocr/slots/slot-0" in modes, sorted(modes)
    wrong = {path: oct(mode) for path, mode in modes.items() if mode != (0o700 if (top / path).is_dir() else 0o600)}
    assert not wrong, repr(wrong)


def test_private_dir_makes_every_missing_level_0700_and_leaves_existing_ones(tmp_path):
    old = os.umask(0o022)
    try:
        shared = tmp_path / "shared"
        shared.mkdir(mode=0o755)
        made = private_dir(shared / "a" / "b" / "c")
        assert made == shared / "a" / "b" / "c" and made.is_dir()
        for level in ("a", "a/b", "a/b/c"):
            assert stat.S_IMODE((shared / level).stat().st_mode) == 0o700, level
        assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # not ours: untouched
        assert private_dir(made) == made  # idempotent
    finally:
        os.umask(old)
