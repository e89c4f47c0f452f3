"""Retention pruning: per-category cutoffs, legal hold, dry run, audit rows, session summaries, SIGKILL, settings."""

import datetime as dt
import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import time_machine

from models import CarePathway, PathwayDecision, QuerySession, RetentionAudit, SessionSummary, User
from tests.conftest import ROOT, run_cli, wait_for
from tests.retention_data import UTC, counts_of, make_user
from worker import periodic
from worker.config import ConfigError, load_settings
from worker.retention import prune
from worker.retention.policies import RetentionPolicies
from worker.schedule import PERIODIC_JOBS

T0 = dt.datetime(2026, 1, 10, 8, 0, tzinfo=UTC)


def _huey_events(database, ts_list):
    p = database.param
    for i, ts in enumerate(ts_list):
        database.execute_sql(
            f"INSERT INTO huey_event (ts, queue, task_id, task, signal) VALUES ({p}, 'q', {p}, 't', 'complete')",
            (ts, f"id{i}"),
        )


def test_policies_prune_each_category_and_spare_users_under_legal_hold(database, settings):
    old, held, fresh = (
        make_user(settings, "u-old", at=T0, secret="OLD"),
        make_user(settings, "u-held", at=T0, secret="HELD", legal_hold=True),
        make_user(settings, "u-new", at=T0 + dt.timedelta(days=1000), secret="NEW"),
    )
    recent_decision = CarePathway.create(user=old, condition="diabete", pathway={}, created_at=T0)
    PathwayDecision.create(pathway=recent_decision, step="x", decision={}, decided_at=T0 + dt.timedelta(days=1090))
    _huey_events(database, [(T0 + dt.timedelta(days=1080)).timestamp(), (T0 + dt.timedelta(days=1099)).timestamp()])
    now = T0 + dt.timedelta(days=1100)  # past every default cutoff for T0 rows; u-new is 100 days old
    with time_machine.travel(now, tick=False):
        dry = {r.category: r for r in prune.prune(settings, dry_run=True)}
        assert RetentionAudit.select().count() == 0
        assert dry["sessions"].rows == 3 and dry["sessions"].held == 3
        assert dry["documents"].rows == 1 and dry["documents"].held == 1
        # u-old: its idle pathway and that pathway's decision; u-held: its pathway
        assert dry["pathways"].rows == 2 and dry["pathways"].held == 1
        assert dry["huey_events"].rows == 1
        assert dry["sessions"].cutoff == now - dt.timedelta(days=365)
        results = {r.category: r for r in prune.prune(settings, chunk=2)}
    for category in ("sessions", "documents", "pathways", "huey_events"):
        assert results[category].rows == dry[category].rows, category
    assert counts_of(old) == {"users": 1, "sessions": 0, "documents": 0, "care_pathways": 1, "pathway_decisions": 1}
    assert counts_of(held) == {"users": 1, "sessions": 3, "documents": 1, "care_pathways": 1, "pathway_decisions": 1}
    assert counts_of(fresh)["documents"] == 1 and counts_of(fresh)["sessions"] == 3
    summary = SessionSummary.get(SessionSummary.user == old.id)
    assert summary.sessions == 3 and summary.intents == {"drug": 2, "pharmacy": 1} and summary.months == {"2026-01": 3}
    # Files: processed copies and quarantine entries of u-old are gone (by age), u-held's stay.
    assert not list((settings.home / "processed").glob("u-old/*"))
    assert list((settings.home / "processed").glob("u-held/*"))
    sidecars = [json.loads(p.read_text())["user_id"] for p in (settings.home / "quarantine").glob("*.error.json")]
    assert "u-old" not in sidecars and "u-held" in sidecars
    audit = {a.category: a for a in RetentionAudit.select()}
    assert set(audit) == set(prune.CATEGORIES)
    assert audit["sessions"].deleted_rows == 3 and audit["sessions"].held_rows == 3 and audit["sessions"].complete
    assert audit["quarantine"].deleted_files >= 2 and audit["documents"].cutoff == now - dt.timedelta(days=1095)


def test_files_are_aged_by_arrival_and_young_ones_stay(database, settings):
    processed = settings.home / "processed" / "_nouser"
    processed.mkdir(parents=True)
    (processed / "a.txt").write_text("a")
    quarantine = settings.home / "quarantine"
    quarantine.mkdir()
    (quarantine / "x.pdf").write_text("x")
    (quarantine / "x.pdf.error.json").write_text("{}")
    (quarantine / "orphan.error.json").write_text("{not json")  # unreadable sidecar, data file already gone
    with time_machine.travel(dt.datetime.now(UTC) + dt.timedelta(days=29), tick=False):
        young = {r.category: r for r in prune.prune(settings, categories=("processed", "quarantine"))}
    assert young["processed"].files == 0 and young["quarantine"].files == 0
    with time_machine.travel(dt.datetime.now(UTC) + dt.timedelta(days=31), tick=False):
        old = {r.category: r for r in prune.prune(settings, categories=("processed", "quarantine"))}
    assert old["processed"].files == 1 and old["quarantine"].files == 3
    assert list(quarantine.iterdir()) == [] and not processed.exists()


def test_time_budget_leaves_the_run_incomplete_and_audited(database, settings):
    make_user(settings, "u1", at=T0, secret="S", sessions=20)
    with time_machine.travel(T0 + dt.timedelta(days=400), tick=False):
        results = prune.prune(settings, deadline=time.monotonic() - 1, categories=("sessions",))
        assert results[0].complete is False and results[0].rows == 0
        assert RetentionAudit.get().complete is False
        assert prune.prune(settings, categories=("sessions",))[0].rows == 20


def test_daily_periodic_prune_catches_up_once(database, settings):
    make_user(settings, "u1", at=T0, secret="S")
    spec = PERIODIC_JOBS["prune"]
    assert spec.interval == dt.timedelta(days=1)
    with time_machine.travel(T0 + dt.timedelta(days=400), tick=False) as clock:
        periodic.sync_jobs(PERIODIC_JOBS)
        assert periodic.run_job(spec, settings).summary["sessions"]["rows"] == 3
        clock.shift(dt.timedelta(days=5))  # down for five days: one run, not five
        assert periodic.run_job(spec, settings).ran
        assert not periodic.run_job(spec, settings).ran
    assert RetentionAudit.select().where(RetentionAudit.category == "sessions").count() == 2


def test_prune_cli_dry_run_json_has_counts_and_cutoffs_but_no_personal_data(database, settings, env):
    make_user(settings, "u-cli-secret", at=T0 - dt.timedelta(days=4000), secret="CLISECRET")
    out = run_cli(env, "prune", "--dry-run", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["dry_run"] is True
    sessions = next(c for c in data["categories"] if c["category"] == "sessions")
    assert sessions["rows"] == 3 and sessions["cutoff"]
    for text in (out.stdout, out.stderr):
        assert "u-cli-secret" not in text and "CLISECRET" not in text
    assert QuerySession.select().count() == 3
    human = run_cli(env, "prune")
    assert human.returncode == 0 and "sessions" in human.stdout
    assert QuerySession.select().count() == 0


def test_sigkill_during_prune_never_double_counts_the_summary(database, settings, env):
    if not settings.database_is_sqlite:
        pytest.skip("the kill is timed by reading the SQLite file")
    user = make_user(settings, "u-many", at=dt.datetime.now(UTC) - dt.timedelta(days=500), secret="S", sessions=6000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "prune", "--batch-size", "20"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    reader = sqlite3.connect(str(settings.sqlite_path), timeout=30)
    try:
        wait_for(
            lambda: 0 < reader.execute("SELECT count(*) FROM sessions").fetchone()[0] < 5800,
            timeout=60,
            interval=0.002,
            message="prune midway",
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        reader.close()
    database.close()
    database.connect()
    left = QuerySession.select().count()
    folded = SessionSummary.get(SessionSummary.user == user.id).sessions
    assert 0 < left < 6000 and left + folded == 6000  # each chunk folded and deleted atomically
    assert run_cli(env, "prune").returncode == 0
    assert QuerySession.select().count() == 0
    assert SessionSummary.get(SessionSummary.user == user.id).sessions == 6000


def test_bad_retention_settings_stop_the_process_with_one_line(env, tmp_path):
    bad_file = tmp_path / "retention.toml"
    bad_file.write_text("[retention]\ndocuments = 10\nprocessed = 30\n")
    cases = [
        ({"MEDIFLUX_RETENTION_DAYS": "documents=10"}, "MEDIFLUX_RETENTION_DAYS: documents (10 days) kept shorter"),
        ({"MEDIFLUX_RETENTION_DAYS": "sessions=0"}, "MEDIFLUX_RETENTION_DAYS: sessions: must be between"),
        ({"MEDIFLUX_RETENTION_DAYS": "cookies=3"}, "MEDIFLUX_RETENTION_DAYS: unknown category 'cookies'"),
        ({"MEDIFLUX_RETENTION_FILE": str(bad_file)}, "MEDIFLUX_RETENTION_FILE: documents (10 days)"),
        ({"MEDIFLUX_RETENTION_FILE": str(tmp_path / "missing.toml")}, "MEDIFLUX_RETENTION_FILE: file not found"),
    ]
    for extra, expected in cases:
        out = run_cli(env | extra, "prune", "--dry-run")
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], lines


def test_retention_file_and_environment_combine(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text("[retention]\nsessions = 90\nsummarize_sessions = false\nprocessed = 7\n")
    settings = load_settings({"MEDIFLUX_RETENTION_FILE": str(path), "MEDIFLUX_RETENTION_DAYS": "sessions=30"})
    assert settings.retention == RetentionPolicies(sessions=30, processed=7, summarize_sessions=False)
    with pytest.raises(ConfigError) as info:
        load_settings({"MEDIFLUX_RETENTION_FILE": str(path), "MEDIFLUX_RETENTION_DAYS": "documents=5"})
    assert info.value.variable == "MEDIFLUX_RETENTION_DAYS"


def test_summaries_off_deletes_sessions_without_summary(database, settings):
    make_user(settings, "u1", at=T0, secret="S")
    no_summary = load_settings(
        {
            "MEDIFLUX_HOME": str(settings.home),
            "MEDIFLUX_DATABASE_URL": settings.database_url,
            "MEDIFLUX_RETENTION_DAYS": "sessions=30, summarize_sessions=0",
        }
    )
    assert no_summary.retention == RetentionPolicies(sessions=30, summarize_sessions=False)
    with time_machine.travel(T0 + dt.timedelta(days=40), tick=False):
        assert prune.prune(no_summary, categories=("sessions",))[0].rows == 3
    assert SessionSummary.select().count() == 0 and User.select().count() == 1
