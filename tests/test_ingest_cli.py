"""`mediflux ingest`, `mediflux quarantine` and the ingestion settings, as real subprocesses."""

from __future__ import annotations

import json
import os

from models import Document
from tests.conftest import run_cli
from tests.ingest_fixtures import one_per_format, variant
from worker.config import load_settings
from worker.queue import build_huey


def test_ingest_now_from_outside_the_inbox_with_a_summary(env, database, home, tmp_path):
    src = tmp_path / "drop"
    (src / "sub").mkdir(parents=True)
    for i, path in enumerate(one_per_format().values()):
        (src / ("sub" if i % 2 else ".") / path.name).write_bytes(variant(path, i))
    (src / "bad.json").write_bytes(b"{nope")
    (src / "ignored.part").write_bytes(b"x")
    out = run_cli(env | {"MEDIFLUX_INGEST_GRACE_SECONDS": "0"}, "ingest", "--now", "--user", "u-5", "--json", str(src))
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["stored"] == 5 and summary["quarantined"] == 1 and summary["copied_into_inbox"] == 6
    assert "ingesting: done, 6 in" in out.stderr  # the progress summary line
    assert len(list(src.rglob("*"))) == 8  # originals left alone
    assert {d.user.user_id for d in Document.select()} == {"u-5"}
    listed = run_cli(env, "quarantine", "list", "--json", "--show-names")
    (entry,) = json.loads(listed.stdout)
    assert entry["name"] == "bad.json" and entry["reason"].startswith("invalid_json") and entry["user_id"] == "u-5"
    table = run_cli(env, "quarantine", "list").stdout
    assert "bad.json" not in table and "u-5" not in table and "invalid_json" in table and entry["ref"] in table
    # fixed by hand, retried: back to the user's folder, ingested on the next pass
    (home / "quarantine" / "bad.json").write_bytes(variant(one_per_format()[".json"], 99))
    retry = run_cli(env, "quarantine", "retry", "bad.json")
    assert retry.returncode == 0 and (home / "inbox" / "u-5" / "bad.json").exists()
    again = run_cli(env, "ingest", "--now", str(home / "inbox"))
    assert again.returncode == 0 and "1 stored" in again.stdout
    assert run_cli(env, "quarantine", "retry", "nothing").returncode == 1
    assert json.loads(run_cli(env, "quarantine", "list", "--json").stdout) == []


def test_ingest_enqueues_batches_and_purge(env, database, home):
    inbox = home / "inbox"
    for i in range(5):
        (inbox / f"f{i}.txt").write_bytes(variant(one_per_format()[".txt"], i))
    out = run_cli(env | {"MEDIFLUX_INGEST_BATCH": "2"}, "ingest", str(inbox))
    assert out.returncode == 0 and "5 files enqueued in 3 tasks" in out.stdout, out.stderr
    assert build_huey(load_settings(env)).pending_count() == 3
    assert Document.select().count() == 0  # the consumer does it
    q = home / "quarantine"
    q.mkdir()
    (q / "x.json").write_bytes(b"x")
    (q / "x.json.error.json").write_text("{}")
    assert run_cli(env, "quarantine", "purge").returncode == 1  # asks; no input = abort
    purge = run_cli(env, "quarantine", "purge", "--yes")
    assert purge.returncode == 0 and "1 quarantined files deleted" in purge.stdout and not os.listdir(q)


def test_bad_ingestion_settings_stop_with_exit_2(env):
    for name, value in (
        ("MEDIFLUX_WATCH_QUIET_SECONDS", "soon"),
        ("MEDIFLUX_INGEST_BATCH", "0"),
        ("MEDIFLUX_WATCH_RESCAN_SECONDS", "nan"),
        ("MEDIFLUX_WATCH_IGNORE", "a/b"),
        ("MEDIFLUX_WATCH_INLINE", "maybe"),
        ("MEDIFLUX_INGEST_GRACE_SECONDS", "-1"),
    ):
        out = run_cli(env | {name: value}, "watch", timeout=30)
        assert out.returncode == 2 and out.stderr.strip().count("\n") == 0 and name in out.stderr, (name, out.stderr)


def test_help_lists_the_ingestion_commands(env):
    out = run_cli(env, "--help").stdout
    for command in ("ingest", "watch", "quarantine"):
        assert command in out
    assert "--now" in run_cli(env, "ingest", "--help").stdout
