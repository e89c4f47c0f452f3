"""Disk full, for real: a 4 MiB tmpfs holds the data folder, a filler file eats the rest.

An erasure that runs out of space stops with a clear error, leaves the database
intact (whole chunks done or not) and finishes on a re-run once space is back;
an export to a full disk leaves no half-written file. Needs root for the mount
(skips with the reason otherwise).
"""

import datetime as dt
import errno
import json
import os
import subprocess
import uuid

import pytest

from models import ErasureRequest, QuerySession, User, migrator
from models.database import open_database
from tests.conftest import _clean_env, run_cli
from tests.retention_data import UTC, make_user, raw_contains
from worker.config import load_settings
from worker.userkeys import user_key
from worker.runtime import prepare_home

T0 = dt.datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to simulate a full disk (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path, leave: int = 0):
    """Write until the file system says ENOSPC, then give back ``leave`` bytes; return the filler file."""
    filler = path / "filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    if leave:
        os.truncate(filler, max(filler.stat().st_size - leave, 0))
    return filler


def _setup(mount):
    env = _clean_env() | {"MEDIFLUX_HOME": str(mount / "home"), "MEDIFLUX_QUEUE_NAME": "t" + uuid.uuid4().hex[:8]}
    settings = load_settings(env)
    prepare_home(settings)
    database = open_database(settings.database_url)
    migrator.upgrade(database)
    database.connect(reuse_if_open=True)
    return env, settings, database


def test_erasure_on_a_full_disk_stops_cleanly_and_a_rerun_finishes(small_disk):
    env, settings, database = _setup(small_disk)
    try:
        make_user(settings, "u-full", at=T0, secret="FULLDISKSECRET", sessions=3000)
        make_user(settings, "u-other", at=T0, secret="OTHER")
        database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        filler = _fill(small_disk, leave=96 * 1024)  # room to open the database, not to finish
        out = run_cli(env, "erase-user", "u-full", "--batch-size", "25")
        assert out.returncode == 1, (out.stdout, out.stderr)
        assert "erasure interrupted, re-run to finish" in out.stderr and "full" in out.stderr
        assert "u-full" not in out.stderr and "FULLDISKSECRET" not in out.stderr
        assert database.execute_sql("PRAGMA integrity_check").fetchone()[0] == "ok"
        left = QuerySession.select().join(User).where(User.user_id == "u-full").count()
        assert 0 < left <= 3000  # stopped part-way: the committed chunks are gone, the rest is intact
        filler.unlink()
        again = run_cli(env, "erase-user", "u-full")
        assert again.returncode == 0, again.stderr
        assert User.select().where(User.user_id == "u-full").count() == 0
        assert ErasureRequest.get(ErasureRequest.user_key == user_key(settings, "u-full")).state == "done"
        assert raw_contains(settings, "FULLDISKSECRET") == [] and raw_contains(settings, "u-full") == []
        assert QuerySession.select().count() == 3  # u-other untouched
    finally:
        database.close()


def test_export_to_a_full_disk_leaves_no_partial_file(small_disk):
    env, settings, database = _setup(small_disk)
    try:
        make_user(settings, "u-exp", at=T0, secret="EXPORTSECRET", sessions=2000)
        database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        out_dir = small_disk / "exports"
        out_dir.mkdir()
        filler = _fill(small_disk, leave=96 * 1024)  # the export (~300 KB) does not fit
        out = run_cli(env, "export-user", "u-exp", "--output", str(out_dir / "u.json"))
        assert out.returncode == 1 and "No space left on device" in out.stderr and "nothing was written" in out.stderr
        assert os.listdir(out_dir) == []
        filler.unlink()
        ok = run_cli(env, "export-user", "u-exp", "--output", str(out_dir / "u.json"))
        assert ok.returncode == 0, ok.stderr
        assert len(json.loads((out_dir / "u.json").read_text())["sessions"]) == 2000
    finally:
        database.close()
