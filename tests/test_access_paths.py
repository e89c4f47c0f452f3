"""Every other path to a user's data leaves its trace (SQLite and PostgreSQL): ``mediflux export-user`` (a real
subprocess), the dashboard's documents page (over real HTTP), erasure; and ``mediflux access-log`` shows them."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

from models import AccessLog
from tests.conftest import run_cli
from tests.retention_data import make_user
from worker.api import DataAPI
from worker.dashboard.server import DashboardApp, serve_in_thread
from worker.queue import build_huey
from worker.retention import erase, export
from worker.userkeys import user_key

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
SECRET = "ZQXTRACE"


def traces(settings, user_id: str) -> list[tuple[str, str, str, str]]:
    query = AccessLog.select().where(AccessLog.user_key == user_key(settings, user_id)).order_by(AccessLog.id)
    return [(r.actor, r.purpose, r.resource, r.channel) for r in query]


def test_export_user_cli_traces_the_export_and_lists_the_traces(database, settings, env):
    make_user(settings, "u-exp@example.org", at=T0, secret=SECRET)
    out = run_cli(env, "export-user", "u-exp@example.org")
    assert out.returncode == 0, out.stderr
    assert traces(settings, "u-exp@example.org") == [("operator", "right_of_access", "export", "cli")]
    out = run_cli(
        env | {"MEDIFLUX_ACCESS_ACTOR": "dpo"}, "export-user", "u-exp@example.org", "--purpose", "portability"
    )
    data = json.loads(out.stdout)
    assert [(e["actor"], e["purpose"], e["resource"]) for e in data["access_log"]] == [
        ("operator", "right_of_access", "export"),
        ("dpo", "portability", "export"),
    ]
    assert len(traces(settings, "u-exp@example.org")) == 2
    bad = run_cli(env, "export-user", "u-exp@example.org", "--actor", "Jeanne Dupont")
    assert bad.returncode == 2 and "--actor" in bad.stderr and "Jeanne" not in bad.stderr
    assert len(traces(settings, "u-exp@example.org")) == 2


def test_the_dashboard_documents_page_traces_the_users_it_shows(database, settings):
    make_user(settings, "u-doc", at=T0, secret=SECRET)
    make_user(settings, "u-other", at=T0, secret="ZQXOTHER")
    huey = build_huey(settings)
    server, _ = serve_in_thread(DashboardApp(settings, database, huey))
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        for path in ("/", "/cache", "/jobs", "/retention"):  # pages without anyone's data
            assert httpx.get(base + path, timeout=10).status_code == 200
        assert AccessLog.select().count() == 0
        page = httpx.get(base + "/documents", timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    assert page.status_code == 200 and "u-doc" not in page.text
    for user_id in ("u-doc", "u-other"):
        assert sorted(traces(settings, user_id)) == [
            ("operator", "operations", "documents", "dashboard"),
            ("operator", "operations", "quarantine", "dashboard"),
        ]


def test_erasure_is_traced_and_the_traces_outlive_it_keyed_only(database, settings, env):
    make_user(settings, "u-gone@example.org", at=T0, secret=SECRET)
    api = DataAPI.from_settings(settings)
    try:
        api.get_profile("u-gone@example.org", actor="support:7", purpose="support")
    finally:
        api.close()
    assert erase.erase_user(settings, "u-gone@example.org").state == "done"
    assert traces(settings, "u-gone@example.org") == [
        ("support:7", "support", "profile", "api"),
        ("worker", "erasure", "erasure", "erasure"),
    ]
    dumped = repr(database.execute_sql("SELECT * FROM access_log").fetchall())
    assert "u-gone" not in dumped and SECRET not in dumped
    # The right of access survives the erasure: the person gives their id, the key finds the traces.
    shown = json.loads(run_cli(env, "access-log", "u-gone@example.org", "--json").stdout)
    assert [e["resource"] for e in shown["entries"]] == ["profile", "erasure"]
    assert export.export_user(settings, "u-gone@example.org")["found"] is False


def test_erasure_of_a_person_who_read_others_data_leaves_their_id_in_no_trace(database, settings, env):
    """A carer's user id as the actor of reads of a relative's profile: the carer's erasure keeps those traces
    (who, why, when: the relative's record of access) under ``erased:<key>``, and the id is in no row or file."""
    carer = "carer.dupont@example.com"
    make_user(settings, "u-relative@example.org", at=T0, secret=SECRET)
    make_user(settings, carer, at=T0, secret=SECRET)
    api = DataAPI.from_settings(settings)
    try:
        api.get_profile("u-relative@example.org", actor=carer, purpose="care")
        api.list_documents("u-relative@example.org", actor=carer, purpose="care")
    finally:
        api.close()
    assert [t[0] for t in traces(settings, "u-relative@example.org")] == [carer, carer]
    result = erase.erase_user(settings, carer)
    assert result.state == "done" and result.counts["access_log_actor"] == 2
    erased = "erased:" + user_key(settings, carer)[:32]
    assert traces(settings, "u-relative@example.org") == [
        (erased, "care", "profile", "api"),
        (erased, "care", "documents", "api"),
    ]
    assert "carer" not in repr(database.execute_sql("SELECT * FROM access_log").fetchall())
    if settings.database_url.startswith("sqlite"):
        assert b"carer.dupont" not in (settings.home / "mediflux.db").read_bytes()
    # Any other rewrite is still refused by the trigger, erased rows included.
    for change in ({"actor": "someone"}, {"purpose": "other"}, {"actor": "erased:x", "purpose": "other"}):
        with pytest.raises(Exception, match="append-only"):
            with database.atomic():
                AccessLog.update(**change).execute()
    assert erase.erase_user(settings, carer).counts["access_log_actor"] == 2  # a re-run changes nothing more


def test_access_log_cli_prints_the_persons_traces_as_table_and_json(database, settings, env):
    api = DataAPI.from_settings(settings)
    try:
        api.create_profile("u-42@x.org", {"pathology": SECRET})
        api.get_profile("u-42@x.org", actor="dr.martin@clinic", purpose="treatment")
        api.list_documents("u-42@x.org", actor="u-42@x.org")
    finally:
        api.close()
    out = run_cli(env, "access-log", "u-42@x.org")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("2 access(es) recorded; traces are kept 183 days")
    assert lines[1].split() == ["time", "(UTC)", "actor", "purpose", "resource", "channel"]
    assert lines[2].split()[2:] == ["dr.martin@clinic", "treatment", "profile", "api"]
    assert lines[3].split()[2:] == ["self", "service", "documents", "api"]
    assert SECRET not in out.stdout and "u-42" not in out.stdout
    data = json.loads(run_cli(env, "access-log", "u-42@x.org", "--json").stdout)
    assert data["format"] == "mediflux.access-log/1" and data["retention_days"] == 183
    assert [e["resource"] for e in data["entries"]] == ["profile", "documents", "access_log"]  # the first look too
    assert set(data["entries"][0]) == {"at", "actor", "purpose", "resource", "channel"}
    assert dt.datetime.fromisoformat(data["entries"][0]["at"]).utcoffset() == dt.timedelta(0)
    nobody = run_cli(env, "access-log", "u-never-seen", "--json")
    assert json.loads(nobody.stdout)["entries"] == []
    refused = run_cli(env, "access-log", "../etc")
    assert refused.returncode == 2 and "Invalid value for 'USER_ID'" in refused.stderr


@pytest.mark.parametrize("args", [("--actor", "two words"), ("--purpose", "x" * 65)])
def test_access_log_cli_refuses_a_bad_label(env, args):
    out = run_cli(env, "access-log", "u-1", *args)
    assert out.returncode == 2 and "Invalid value" in out.stderr


def test_quarantine_list_traces_the_users_whose_names_it_shows(database, settings, env):
    import dataclasses

    from worker.ingest import ingest_paths

    bad = settings.inbox / "u-quar@x.org" / "Compte rendu.json"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b'{"oops": ')
    report = ingest_paths([str(bad)], dataclasses.replace(settings, ingest_grace_seconds=0))
    assert report.quarantined == 1
    hidden = run_cli(env, "quarantine", "list")  # refs and reasons only: nothing of the person is shown
    assert hidden.returncode == 0 and "u-quar" not in hidden.stdout, hidden.stderr
    assert traces(settings, "u-quar@x.org") == []
    shown = run_cli(env, "quarantine", "list", "--show-names", "--actor", "ops.1")
    assert shown.returncode == 0 and "u-quar@x.org" in shown.stdout, shown.stderr
    assert traces(settings, "u-quar@x.org") == [("ops.1", "operations", "quarantine", "cli")]
    as_json = run_cli(env, "quarantine", "list", "--show-names", "--json", "--purpose", "support")
    assert json.loads(as_json.stdout)[0]["user_id"] == "u-quar@x.org"
    assert traces(settings, "u-quar@x.org")[-1] == ("operator", "support", "quarantine", "cli")
