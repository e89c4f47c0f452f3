"""Automatic migrations: data survives upgrades, models match the schema, concurrent starts apply once."""

import subprocess
import sys
import time

import pytest
from playhouse.schema_diff import diff_models

from models import ALL_MODELS, migrator
from models.database import open_database
from tests.conftest import ROOT


def _names(database):
    return [m.name for m in migrator.status(database)]


def test_models_match_the_migrated_schema(settings, home):
    home.mkdir(parents=True, exist_ok=True)
    database = open_database(settings.database_url)
    migrator.upgrade(database)
    diff = diff_models(database, list(ALL_MODELS))
    assert not diff, str(diff)
    assert migrator.pending(database) == []


def test_upgrade_from_first_migration_keeps_data(settings, home):
    home.mkdir(parents=True, exist_ok=True)
    database = open_database(settings.database_url)
    first = _names(database)[0]
    assert migrator.upgrade(database, target=first) == [first]
    # Write through SQL, not the models: the models describe head, not the first schema.
    database.execute_sql(
        "INSERT INTO users (user_id, profile, created_at, updated_at) VALUES ('u-keep', '{\"mutuelle\": \"MGEN\"}', "
        "'2026-01-02 03:04:05.000000', '2026-01-02 03:04:05.000000')"
        if not settings.database_url.startswith("postgres")
        else "INSERT INTO users (user_id, profile, created_at, updated_at) VALUES ('u-keep', '{\"mutuelle\": \"MGEN\"}', "
        "'2026-01-02 03:04:05+00', '2026-01-02 03:04:05+00')"
    )
    database.execute_sql(
        "INSERT INTO documents (user_id, original_filename, sha256, format, pages, text, meta, status, created_at) "
        "SELECT id, 'a.txt', 'abc', 'text', '[]', 'bonjour', '{}', 'ingested', created_at FROM users"
    )
    migrator.upgrade(database)
    assert migrator.pending(database) == []
    from models import Document, User

    user = User.get(User.user_id == "u-keep")
    assert user.profile == {"mutuelle": "MGEN"} and user.created_at.year == 2026
    assert Document.get(Document.sha256 == "abc").text == "bonjour"


def test_down_then_up_round_trips(settings, home):
    home.mkdir(parents=True, exist_ok=True)
    database = open_database(settings.database_url)
    migrator.upgrade(database)
    names = _names(database)
    assert migrator.downgrade(database, target=names[0]) == list(reversed(names))
    assert migrator.pending(database) == names
    assert migrator.upgrade(database) == names
    assert not diff_models(database, list(ALL_MODELS))


@pytest.mark.parametrize("start_at_first", [False, True], ids=["new-db", "old-db"])
def test_concurrent_starts_apply_each_migration_once(settings, env, home, start_at_first):
    home.mkdir(parents=True, exist_ok=True)
    database = open_database(settings.database_url)
    names = _names(database)
    if start_at_first:
        migrator.upgrade(database, target=names[0])
    database.close()
    gate = home / "go"
    # Every process imports first, then waits at the gate, so they all migrate at the same instant.
    code = (
        "import os, time; from worker.runtime import bootstrap\n"
        f"while not os.path.exists({str(gate)!r}): time.sleep(0.005)\n"
        "bootstrap()"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    time.sleep(1.5)
    gate.touch()
    outputs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, outputs
    applied_lines = [line for out in outputs for line in out.splitlines() if "migration applied" in line]
    expected = names[1:] if start_at_first else names
    assert sorted(line.rsplit(" ", 1)[-1] for line in applied_lines) == sorted(expected)
    database.connect(reuse_if_open=True)
    assert migrator.pending(database) == []
    rows = database.execute_sql("SELECT name FROM schema_migration").fetchall()
    assert sorted(r[0] for r in rows) == sorted(names)


def test_cli_migrate_status_up_down(env):
    from tests.conftest import run_cli

    out = run_cli(env, "migrate", "--status", "--json")
    assert out.returncode == 0, out.stderr
    assert '"applied": null' in out.stdout  # `migrate --status` does not apply anything
    assert run_cli(env, "migrate", "up").returncode == 0
    status = run_cli(env, "migrate", "--status")
    assert "pending" not in status.stdout
    down = run_cli(env, "migrate", "down", "--yes")
    assert down.returncode == 0 and "reverted:" in down.stdout
    assert "pending" in run_cli(env, "migrate", "--status").stdout
    assert run_cli(env, "migrate").returncode == 0
    assert "pending" not in run_cli(env, "migrate", "--status").stdout


def _index_names(database) -> set[str]:
    return {i.name for i in database.get_indexes("documents")}


def test_0006_per_owner_key_keeps_rows_and_owners_and_goes_down(settings, home):
    """From 0005 with rows: owners kept; (owner, sha256) unique, ownerless unique per sha256; down() guarded."""
    import peewee

    home.mkdir(parents=True, exist_ok=True)
    database = open_database(settings.database_url)
    assert migrator.upgrade(database, target="0005_app_api")[-1] == "0005_app_api"
    stamp = "'2026-01-02 03:04:05+00'" if settings.database_url.startswith("postgres") else "'2026-01-02 03:04:05'"

    def insert(owner, sha):
        user = "NULL" if owner is None else f"(SELECT id FROM users WHERE user_id = '{owner}')"
        database.execute_sql(
            "INSERT INTO documents (user_id, original_filename, sha256, format, pages, text, meta, status, created_at) "
            f"VALUES ({user}, 'a.txt', '{sha}', 'text', '[]', 'bonjour', '{{}}', 'ingested', {stamp})"
        )

    def refused(owner, sha):
        with pytest.raises(peewee.IntegrityError), database.atomic():
            insert(owner, sha)

    for user in ("u-a", "u-b"):
        database.execute_sql(
            "INSERT INTO users (user_id, profile, legal_hold, created_at, updated_at) "
            f"VALUES ('{user}', '{{}}', false, {stamp}, {stamp})"
        )
    insert("u-a", "aaa")
    insert("u-b", "bbb")
    insert(None, "ccc")
    refused("u-b", "aaa")  # 0005: sha256 unique across users
    assert migrator.upgrade(database, target="0006_owner_sha256") == ["0006_owner_sha256"]
    owners = "SELECT u.user_id, d.sha256 FROM documents d LEFT JOIN users u ON u.id = d.user_id ORDER BY d.sha256"
    assert database.execute_sql(owners).fetchall() == [("u-a", "aaa"), ("u-b", "bbb"), (None, "ccc")]
    assert {"documents_sha256_user_id", "documents_sha256_no_user"} <= _index_names(database)
    assert "documents_sha256" not in _index_names(database)
    insert("u-b", "aaa")  # the same bytes for another user: that user's own document
    insert(None, "aaa")
    refused("u-a", "aaa")  # twice for one owner
    refused(None, "ccc")  # twice without an owner
    with pytest.raises(RuntimeError, match="several owners"):
        migrator.downgrade(database)  # dropping one owner's copy is not a schema step
    later = [n for n in _names(database) if n > "0006_owner_sha256"]  # migrations after 0006 stay pending here
    assert migrator.pending(database) == later and "documents_sha256_no_user" in _index_names(database)
    database.execute_sql(
        "DELETE FROM documents WHERE sha256 = 'aaa' AND "
        "(user_id IS NULL OR user_id <> (SELECT id FROM users WHERE user_id = 'u-a'))"
    )
    assert migrator.downgrade(database) == ["0006_owner_sha256"]
    assert database.execute_sql(owners).fetchall() == [("u-a", "aaa"), ("u-b", "bbb"), (None, "ccc")]
    assert "documents_sha256" in _index_names(database) and "documents_sha256_user_id" not in _index_names(database)
    refused("u-b", "aaa")
    assert migrator.upgrade(database, target="0006_owner_sha256") == ["0006_owner_sha256"]
