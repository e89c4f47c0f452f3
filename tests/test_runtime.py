"""Start-up: data folder 0700, database files 0600, idempotent bootstrap."""

import stat

from models import User
from worker.config import load_settings
from worker.runtime import bootstrap


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_bootstrap_creates_private_files(tmp_path):
    home = tmp_path / "var"
    settings = load_settings({"MEDIFLUX_HOME": str(home)})
    runtime = bootstrap(settings)
    assert bootstrap(settings) is runtime  # idempotent per settings
    User.create(user_id="u1")  # forces the WAL to exist
    from worker.queue import build_huey

    build_huey(settings)
    assert _mode(home) == 0o700
    for name in ("mediflux.db", "mediflux.db-wal", "queue.db"):
        assert _mode(home / name) == 0o600, name
    assert (home / "inbox").is_dir()


def test_existing_loose_permissions_are_tightened(tmp_path):
    home = tmp_path / "var"
    home.mkdir(mode=0o755)
    (home / "mediflux.db").touch(mode=0o644)
    bootstrap(load_settings({"MEDIFLUX_HOME": str(home)}))
    assert _mode(home) == 0o700 and _mode(home / "mediflux.db") == 0o600
