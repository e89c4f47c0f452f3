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


def test_the_cache_and_the_data_api_use_the_settings_they_were_given(tmp_path, monkeypatch):
    """open_api(settings) used to leave the process-wide cache on the environment's settings."""
    from worker import cache
    from worker.api import open_api

    monkeypatch.setenv("MEDIFLUX_HOME", str(tmp_path / "from-env"))
    monkeypatch.setenv("MEDIFLUX_BDPM_URL", "https://env.invalid")
    given = load_settings({"MEDIFLUX_HOME": str(tmp_path / "given"), "MEDIFLUX_BDPM_URL": "https://given.invalid"})
    api = open_api(given)
    try:
        assert cache.client().settings is given
        assert cache.client().policies["bdpm"].base_url.startswith("https://given.invalid")
        assert not (tmp_path / "from-env").exists()
    finally:
        api.close()


def test_connect_installs_the_queue_triggers_once_for_every_consumer_of_them(tmp_path):
    import tasks
    from tasks.wiring import HueyTriggers
    from worker import cache

    settings = load_settings({"MEDIFLUX_HOME": str(tmp_path / "var")})
    plain = bootstrap(settings)
    runtime = tasks.connect(settings)
    assert runtime is plain and isinstance(runtime.triggers, HueyTriggers)
    assert tasks.connect(settings).triggers is runtime.triggers  # once: tasks are registered one time
    assert cache.client().triggers is runtime.triggers  # stale reads enqueue through the same triggers
    runtime.triggers.erase_user("u-42")
    runtime.triggers.ingest([str(settings.inbox / f"{i}.txt") for i in range(450)])  # 3 batches of 200
    names = [m.name for m in runtime.huey.pending()]
    assert names.count("erase_user") == 1 and names.count("ingest_files") == 3
    assert {"tasks.ingest.ingest_files", "tasks.periodic.run_periodic_job"} <= set(runtime.huey._registry._registry)
