"""`mediflux copy-db`: SQLite → a fresh PostgreSQL schema, verified, same schema version; refuses a non-empty target."""

import datetime as dt
import hashlib
import json

import pytest
from playhouse.schema_diff import diff_models

from models import ALL_MODELS, ApiCache, Document, JobRun, QuerySession, User, db, migrator
from models.database import open_database
from tests.conftest import run_cli
from worker.api import DataAPI
from worker.copydb import data_models, table_checksum

UTC = dt.timezone.utc
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _populate(settings) -> None:
    api = DataAPI.from_settings(settings)
    for i in range(30):
        api.create_profile(
            f"u{i}",
            {
                "mutuelle": "MGEN" if i % 3 else "Harmonie",
                "pathology": "asthme",
                "location": {"department": "2A", "city": "Ajaccio"},
                "note": "é€ 😀",
                "scores": [1, 2.5, None, True],
                "nested": {"a": {"b": [{}]}},
            },
        )
    for i in range(1200):
        api.log_query(f"u{i % 30}", f"question {i}", "reimbursement" if i % 2 else None, {"rank": i, "ok": True})
    pathway = api.store_pathway("u1", "asthme", {"steps": ["a", {"id": "b", "title": "Pneumologue"}]})
    api.record_decision("u1", pathway.id, "b", {"accepted": True})
    api.close()
    owner = list(User.select().where(User.user_id == "u2"))[0]
    Document.create(
        user=owner,
        original_filename="o.hocr",
        sha256=hashlib.sha256(b"o").hexdigest(),
        format="hocr",
        pages=[{"number": 1, "text": "ORDONNANCE", "confidence": 0.91}],
        text="ORDONNANCE",
        meta={"engine": "tesseract"},
        analysis={"document_type": "ordonnance", "confidence": 0.875},
    )
    Document.create(original_filename="orphan.txt", sha256="0" * 64, format="text")
    ApiCache.create(
        source="bdpm",
        endpoint="medicament",
        params_hash="h" * 64,
        params={"cis": "69309629"},
        response={"denomination": "DOLIPRANE"},
        fresh_until=dt.datetime(2026, 6, 1, 12, tzinfo=UTC),
    )
    JobRun.create(job="housekeeping", started_at=dt.datetime(2026, 3, 29, 1, 0, 0, 123456, tzinfo=UTC), ok=True)
    User.delete().where(User.user_id == "u29").execute()  # ids with gaps copy as they are (40 sessions cascade)


def test_copy_db_to_empty_postgresql_verifies_and_refuses_a_second_time(database, settings, env, pg_schema_url):
    _populate(settings)
    out = run_cli(env, "copy-db", "--to", pg_schema_url, "--batch-size", "500", "--json", timeout=180)
    assert out.returncode == 0, out.stderr
    # After the run: the command's start-up also registers the periodic jobs in the source.
    source_sums = {m._meta.table_name: table_checksum(m, database) for m in data_models()}
    report = json.loads(out.stdout)
    assert report["verified"] is True
    by_table = {t["table"]: t for t in report["tables"]}
    for table, src in source_sums.items():
        assert by_table[table]["rows"] == src.rows and by_table[table]["sha256"] == src.checksum, table
    assert by_table["sessions"]["rows"] == 1160 and by_table["users"]["rows"] == 29
    assert "copy-db: done" in out.stderr  # the shared progress reporter, on stderr

    target = open_database(pg_schema_url, bind=False)
    try:
        assert migrator.pending(target) == []
        source_history = [r[0] for r in database.execute_sql("SELECT name FROM schema_migration ORDER BY id")]
        assert [r[0] for r in target.execute_sql("SELECT name FROM schema_migration ORDER BY id")] == source_history
        assert not diff_models(target, list(ALL_MODELS))
        for model in data_models():  # recomputed independently on the target
            assert table_checksum(model, target) == source_sums[model._meta.table_name]
        with target.bind_ctx(list(ALL_MODELS)):
            user = User.get(User.user_id == "u7")
            assert user.profile["note"] == "é€ 😀" and user.profile["scores"] == [1, 2.5, None, True]
            assert JobRun.get(JobRun.job == "housekeeping").started_at == dt.datetime(
                2026, 3, 29, 1, 0, 0, 123456, tzinfo=UTC
            )
            max_session = QuerySession.select().order_by(QuerySession.id.desc()).get().id
    finally:
        target.close()

    # Sequences were reset: the app writes to the new database without id collisions.
    target_settings = settings.__class__(**{**settings.__dict__, "database_url": pg_schema_url})
    api = DataAPI.from_settings(target_settings)
    try:
        api.create_profile("u-new", {"mutuelle": "MGEN"})
        assert api.log_query("u-new", "première question").id == max_session + 1
        assert len(api.find_users(department="2A")) == 29
    finally:
        api.close()
        open_database(settings.database_url)  # rebind the models to this test's SQLite

    again = run_cli(env, "copy-db", "--to", pg_schema_url, timeout=120)
    assert again.returncode == 1 and "target is not empty" in again.stderr, again.stderr


def test_copy_db_refuses_bad_targets_without_echoing_secrets(database, env):
    bad = run_cli(env, "copy-db", "--to", "mysql://root:hunter2@127.0.0.1/x")
    assert bad.returncode == 2 and "--to" in bad.stderr and "hunter2" not in bad.stderr
    down = run_cli(env, "copy-db", "--to", "postgresql://app:hunter2@127.0.0.1:1/mediflux")
    assert down.returncode == 1 and "cannot open the target database" in down.stderr
    assert "hunter2" not in down.stderr + down.stdout
    same = run_cli(env, "copy-db", "--to", env["MEDIFLUX_DATABASE_URL"])
    assert same.returncode == 2 and "source" in same.stderr
    assert db.obj is not None


def test_a_failed_copy_rolls_back_and_can_be_retried(database, settings, env, pg_schema_url):
    _populate(settings)
    # SQLite stores a NUL character in text; PostgreSQL refuses it: the copy fails on the documents table.
    Document.create(original_filename="nul.txt", sha256="1" * 64, format="text", text="avant\x00après")
    failed = run_cli(env, "copy-db", "--to", pg_schema_url, "--batch-size", "100", timeout=180)
    assert failed.returncode == 1 and "rolled back" in failed.stderr, failed.stderr
    assert "avant" not in failed.stderr  # the error names the problem, never the row's content
    target = open_database(pg_schema_url, bind=False)
    try:
        for model in data_models():  # users and sessions were inserted before the failure: rolled back too
            assert table_checksum(model, target).rows == 0, model
        assert migrator.pending(target) == []  # the schema stays; an empty schema is an accepted target
    finally:
        target.close()
    Document.delete().where(Document.sha256 == "1" * 64).execute()
    retried = run_cli(env, "copy-db", "--to", pg_schema_url, "--json", timeout=180)
    assert retried.returncode == 0, retried.stderr
    assert {t["table"]: t["rows"] for t in json.loads(retried.stdout)["tables"]}["users"] == 29
