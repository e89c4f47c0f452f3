"""Erasure keys (HMAC; old SHA-256 rows marked by 0010, rewrapped by the worker) and what queue tasks carry."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from models import ApiCache, ErasureRequest, migrator
from models.clock import utcnow
from models.database import open_database
from tests.retention_data import UTC, make_user
from worker import queuescrub, userkeys
from worker.config import load_settings
from worker.ingest import tokens
from worker.queue import build_huey
from worker.retention import erase

USER = "jeanne.martin@example.fr"


def test_0010_marks_old_rows_then_the_worker_rewraps_them_and_still_finds_them(settings, home):
    database = open_database(settings.database_url)
    migrator.upgrade(database, target="0006_owner_sha256")
    old = userkeys.legacy_key(USER)
    now = utcnow()
    database.execute_sql(
        "INSERT INTO erasure_requests (user_key, state, counts, attempts, requested_at, updated_at, finished_at)"
        " VALUES (%s, 'done', '{}', 1, %s, %s, %s)".replace("%s", database.param),
        (old, now, now, now),
    )
    assert "0010_erasure_key_scheme" in migrator.upgrade(database)
    assert ErasureRequest.get().key_scheme == "sha256"
    assert erase.erased_at(settings, USER) is not None  # found by its old key before any rewrap
    assert erase.rewrap_legacy_keys(settings) == 1
    row = ErasureRequest.get()
    assert row.key_scheme == "hmac" and row.user_key != old and row.user_key in userkeys.lookup_keys(settings, USER)
    assert erase.erased_at(settings, USER) is not None  # and by its rewrapped key after
    assert erase.rewrap_legacy_keys(settings) == 0
    # Erasing the same user again reuses the row, now under the user's key.
    assert erase.erase_user(settings, USER).state == "done"
    assert [r.user_key for r in ErasureRequest.select()] == [userkeys.user_key(settings, USER)]
    database.close()


def test_unfinished_old_row_is_resumed_through_its_old_key(database, settings):
    make_user(settings, USER, at=dt.datetime(2026, 1, 5, tzinfo=UTC), secret="OLDKEYSECRET")
    ErasureRequest.create(user_key=userkeys.legacy_key(USER), state="running", key_scheme="sha256")
    assert erase.resume_pending(settings)["resumed"] == 1
    assert [(r.user_key, r.state) for r in ErasureRequest.select()] == [(userkeys.user_key(settings, USER), "done")]


@pytest.fixture
def queued(tmp_path, queue_url):
    """A connected runtime on the queue backend of this test (SQLite data database)."""
    import tasks

    home = tmp_path / "home"  # the queue_url fixture's SQLite queue lives there too
    name = "t" + os.urandom(5).hex()
    settings = load_settings({"MEDIFLUX_HOME": str(home), "MEDIFLUX_QUEUE_URL": queue_url, "MEDIFLUX_QUEUE_NAME": name})
    runtime = tasks.connect(settings)
    yield runtime
    runtime.huey.flush()


def test_tasks_carry_no_user_id_and_no_file_name_and_purge_drops_those_that_do(queued):
    settings, huey, triggers = queued.settings, queued.huey, queued.triggers
    folder = settings.inbox / USER
    folder.mkdir(parents=True)
    named = folder / "Compte rendu MARTIN Jeanne.txt"
    odd = folder / os.fsdecode(b"scan-\xe9t\xe9.txt")  # not UTF-8: still reachable through its key
    for path in (named, odd):
        path.write_text("x")
    assert triggers.ingest([str(named), str(odd), "/elsewhere/MARTIN.txt"]) == 1
    triggers.erase_user(USER)
    raw = repr([w.args for w in queuescrub.waiting(huey)])
    assert USER not in raw and "MARTIN" not in raw and "Compte rendu" not in raw
    ingest = next(w for w in queuescrub.waiting(huey) if w.name.endswith("ingest_files"))
    assert tokens.paths_of(settings, ingest.args[0][0]) == [str(named), str(odd)]
    # Tasks that do name the user (a stale refresh with the id, an older version's path), pending and scheduled.
    triggers.refresh_entry("annuaire", "search", {"user_id": USER})
    triggers.refresh_entry("annuaire", "search", {"user_id": "someone-else"})
    triggers.ingest_files.schedule(args=([str(named)], 0), delay=3600)
    keys = erase.inbox_keys(settings, USER)
    assert len(queuescrub.concerning(huey, USER, keys)) == 3  # the refresh, the old path, the opaque keys
    assert queuescrub.purge_tasks(huey, USER, keys) == 3
    left = [w.name.rsplit(".", 1)[-1] for w in queuescrub.waiting(huey)]
    assert sorted(left) == ["erase_user", "refresh_entry"]
    assert queuescrub.concerning(huey, USER, keys) == []


def test_erase_task_carries_the_request_id_and_an_older_string_task_still_works(queued):
    settings, triggers = queued.settings, queued.triggers
    (settings.inbox / USER).mkdir(parents=True)
    (settings.inbox / USER / "a.txt").write_text("x")
    request_id = erase.request_erasure(settings, USER)
    assert triggers.erase_user_task.call_local(request_id) == "done"
    assert not (settings.inbox / USER).exists()
    (settings.inbox / "u-older").mkdir()
    assert triggers.erase_user_task.call_local("u-older") == "done"
    assert not (settings.inbox / "u-older").exists()
    assert triggers.erase_user_task.call_local(10_000) is None  # no such request


def test_sqlite_queue_connections_zero_deleted_tasks(tmp_path):
    settings = load_settings({"MEDIFLUX_HOME": str(tmp_path / "home")})
    huey = build_huey(settings)
    assert huey.storage.sql("pragma secure_delete", results=True)[0][0] == 1
    assert queuescrub.flush(huey) is True


def test_a_user_known_only_through_cache_params_is_found_by_the_request_id(database, settings):
    ApiCache.create(
        source="annuaire",
        endpoint="search",
        params_hash="h" * 64,
        params={"user_id": USER, "q": "gp"},
        response={"x": 1},
        stale_until=utcnow(),
    )
    request_id = erase.request_erasure(settings, USER)  # no user row, no folder, no sidecar
    result = erase.erase_request(settings, request_id)
    assert result is not None and result.state == "done" and result.counts["api_cache"] == 1
    assert ApiCache.select().count() == 0


def test_keys_find_root_nested_and_new_files_and_skip_gone_ones(tmp_path):
    settings = load_settings({"MEDIFLUX_HOME": str(tmp_path / "home")})
    settings.inbox.mkdir(parents=True)
    (settings.inbox / "u-1" / "sub").mkdir(parents=True)
    root, nested = settings.inbox / "loose.json", settings.inbox / "u-1" / "sub" / "deep.txt"
    for path in (root, nested):
        path.write_text("x")
    tokens._seen.clear()
    keys = tokens.keys_of(settings, [str(root), str(nested)])
    assert all(len(k) == 32 for k in keys) and tokens.paths_of(settings, keys) == [str(root), str(nested)]
    nested.unlink()  # ingested meanwhile: remembered, but gone
    later = settings.inbox / "u-1" / "later.txt"
    later.write_text("x")  # landed after the walk: found by walking its folder again
    assert tokens.paths_of(settings, [*keys, *tokens.keys_of(settings, [str(later)])]) == [str(root), str(later)]
