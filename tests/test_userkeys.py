"""User keys: an HMAC under a per-deployment secret, created once (0600, atomically), never replaced."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from worker import userkeys
from worker.config import load_settings
from worker.runtime import prepare_home


def _settings(home: Path):
    return load_settings({"MEDIFLUX_HOME": str(home)})


def _forget() -> None:
    userkeys._secrets.clear()


def test_secret_created_at_first_start_0600(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "home")
    prepare_home(settings)
    path = userkeys.secret_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = userkeys.user_key(settings, "alice@example.com")
    _forget()
    assert userkeys.user_key(settings, "alice@example.com") == key  # read back, not regenerated
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_key_is_not_the_dictionary_recoverable_hash(tmp_path: Path) -> None:
    a, b = _settings(tmp_path / "a"), _settings(tmp_path / "b")
    plain = hashlib.sha256(b"mediflux-user:alice@example.com").hexdigest()
    key_a, key_b = userkeys.user_key(a, "alice@example.com"), userkeys.user_key(b, "alice@example.com")
    assert len(key_a) == 64 and key_a != plain
    assert key_a != key_b  # another deployment, another secret
    assert userkeys.legacy_key("alice@example.com") == plain
    assert plain not in userkeys.lookup_keys(a, "alice@example.com")


def test_corrupt_secret_is_refused_never_replaced(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "home")
    settings.home.mkdir(parents=True)
    userkeys.secret_path(settings).write_text("short\n")
    with pytest.raises(userkeys.SecretError) as info:
        userkeys.user_key(settings, "u-1")
    assert "u-1" not in str(info.value)
    assert userkeys.secret_path(settings).read_text() == "short\n"


def _race(home: str, out) -> None:  # a child process: its own cache
    out.put(userkeys.user_key(_settings(Path(home)), "u-race"))


def test_processes_starting_together_agree(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(home), out)) for _ in range(6)]
    for p in procs:
        p.start()
    keys = {out.get(timeout=30) for _ in procs}
    for p in procs:
        p.join(timeout=30)
    assert len(keys) == 1
    assert sorted(os.listdir(home)) == [userkeys.SECRET_NAME]
