"""An erasure through the real path leaves the user nowhere: files, databases, queue, logs (issue 15, part 2).

One user is seeded everywhere a running deployment puts them: rows (written directly and by real ingestion),
inbox files, processed copies, quarantine (a file refused before it was read: too large), tasks waiting in the
queue that name them (a stale-cache refresh with their id, a task of an older version with a path, an ingest
task with an opaque key), huey's task events, the consumer's logs. ``mediflux export-user`` lists every one of
those places; then the app asks for the erasure (``triggers.erase_user``), a real ``huey_consumer`` runs it, and
every file under MEDIFLUX_HOME, the queue (SQLite file and WAL, Redis keys and values, PostgreSQL tables) and
the captured logs are searched for the id, the patient's name, the NIR and the document's text: nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from models import Document, ErasureRequest
from tests.conftest import (
    REDIS_URL,
    ROOT,
    _clean_env,
    procfile_command,
    require_service,
    run_cli,
    stop_gracefully,
    wait_for,
)
from tests.retention_data import UTC, make_user
from worker import quarantine
from worker.config import load_settings
from worker.ingest import tokens
from worker.userkeys import user_key

USER = "aurelien.quintard@example.org"
SURNAME = "QUINTARD"
SECRET = "ZVIHSEROPOSITIF"  # the document text's marker
NIR_SPACED = "1 85 03 75 123 456 41"
NIR_COMPACT = "185037512345641"
NEEDLES = [USER, SURNAME, SECRET, NIR_SPACED, NIR_COMPACT, "Compte rendu"]
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
BACKENDS = [("sqlite", "sqlite"), ("postgresql", "redis"), ("postgresql", "postgresql")]


@pytest.fixture(params=BACKENDS, ids=["sqlite", "pg+redis", "pg+pgqueue"])
def deployment(request, tmp_path):
    """Environment of one deployment: data and queue backends, a private queue name, small size limit."""
    database_kind, queue_kind = request.param
    home = tmp_path / "home"
    pg = request.getfixturevalue("pg_schema_url") if "postgresql" in request.param else None
    database_url = f"sqlite:///{home / 'mediflux.db'}" if database_kind == "sqlite" else pg
    if queue_kind == "sqlite":
        queue_url = f"sqlite:///{home / 'queue.db'}"
    elif queue_kind == "redis":
        require_service("Redis", "127.0.0.1", 6379)
        queue_url = REDIS_URL
    else:
        queue_url = pg
    env = _clean_env() | {
        "MEDIFLUX_HOME": str(home),
        "MEDIFLUX_DATABASE_URL": database_url,
        "MEDIFLUX_QUEUE_URL": queue_url,
        "MEDIFLUX_QUEUE_NAME": "t" + uuid.uuid4().hex[:10],
        "MEDIFLUX_MAX_FILE_MB": "1",
        "MEDIFLUX_KEEP_PROCESSED": "1",
        "MEDIFLUX_LOG_LEVEL": "debug",
    }
    yield env
    if queue_kind == "redis":
        import redis

        conn = redis.Redis.from_url(queue_url)
        for key in conn.scan_iter(f"*{env['MEDIFLUX_QUEUE_NAME']}*"):
            conn.delete(key)


def _seed_files(settings) -> dict[str, Path]:
    folder = settings.inbox / USER
    folder.mkdir(parents=True, exist_ok=True)
    report = folder / f"Compte rendu {SURNAME} Aurélien.txt"
    report.write_text(
        f"Compte rendu de consultation\nPatient : {SURNAME} Aurélien\nN° SS : {NIR_SPACED}\n"
        f"Conclusion : {SECRET}, suivi au CHU.\n",
        encoding="utf-8",
    )
    big = folder / f"Bilan {SURNAME}.txt"  # refused before it is read: larger than MEDIFLUX_MAX_FILE_MB
    big.write_bytes((f"Bilan {SURNAME} NIR {NIR_COMPACT} {SECRET}\n" * 40_000).encode())
    return {"report": report, "big": big}


def _pending_file(settings) -> Path:
    path = settings.inbox / USER / f"Ordonnance {SURNAME}.txt"
    path.write_text(f"Ordonnance pour {SURNAME}, {SECRET}\n", encoding="utf-8")
    return path


def _redis_dump(url: str, name: str) -> bytes:
    import redis

    conn = redis.Redis.from_url(url)
    out = []
    for key in conn.scan_iter(f"*{name}*"):
        out.append(key)
        kind = conn.type(key)
        if kind == b"zset":
            out += [m for m, _ in conn.zrange(key, 0, -1, withscores=True)]
        elif kind == b"hash":
            for k, v in conn.hgetall(key).items():
                out += [k, v]
        elif kind == b"list":
            out += conn.lrange(key, 0, -1)
        elif kind == b"set":
            out += list(conn.smembers(key))
        elif kind == b"string":
            out.append(conn.get(key) or b"")
    return b"\n".join(out)


def _pg_dump(url: str) -> bytes:
    """Every row of every table of the test's schema (data tables and huey's queue tables), bytea as bytes."""
    import peewee

    from models.database import postgres_params

    database = peewee.PostgresqlDatabase(**postgres_params(url))
    out = []
    with database.connection_context():
        for table in database.get_tables():
            for row in database.execute_sql(f'SELECT * FROM "{table}"').fetchall():
                out.extend(bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in row)
    return b"\n".join(out)


def _found(blob: bytes) -> list[str]:
    return [n for n in NEEDLES if n.encode("utf-8") in blob]


def test_erasure_through_the_consumer_leaves_nothing_anywhere(deployment, tmp_path):
    import tasks

    env = deployment
    settings = load_settings(env)
    runtime = tasks.connect(settings)
    triggers = runtime.triggers
    make_user(settings, USER, at=T0, secret=SECRET)
    seeded = _seed_files(settings)
    log_path = tmp_path / "consumer.log"  # the logs a deployment keeps, outside MEDIFLUX_HOME
    log = open(log_path, "w")  # noqa: SIM115 — held by the consumer until it stops
    consumer = subprocess.Popen(procfile_command("worker"), env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        # Real ingestion: a report stored (and kept in processed/), a too-large file quarantined unread.
        triggers.ingest([str(seeded["report"]), str(seeded["big"])])
        report = Document.original_filename.startswith("Compte rendu")
        wait_for(
            lambda: Document.select().where(report, Document.analysis.is_null(False)).exists(),
            timeout=60,
            message="the report stored and analysed",
        )
        wait_for(
            lambda: any(e.reason == "too_large" for e in quarantine.entries(settings.home)),
            timeout=30,
            message="the too-large file quarantined",
        )
        refused = next(e for e in quarantine.entries(settings.home) if e.reason == "too_large")
        assert refused.user_id == USER  # attributed by its inbox folder although never read
        # Tasks that wait in the queue and concern the user (scheduled: the consumer leaves them there).
        pending = _pending_file(settings)
        hour = 3600
        triggers.refresh_entry.schedule(args=("annuaire", "search", {"user_id": USER, "q": "gp"}), delay=hour)
        triggers.ingest_files.schedule(args=([str(pending)], 0), delay=hour)  # as an older version enqueued
        triggers.ingest_files.schedule(args=(tokens.keys_of(settings, [str(pending)]), 0), delay=hour)

        out = run_cli(env, "export-user", USER, "--output", str(tmp_path / "export.json"))
        assert out.returncode == 0, out.stderr
        exported = json.loads((tmp_path / "export.json").read_text())
        assert exported["profile"] and len(exported["sessions"]) == 3 and exported["care_pathways"]
        assert any(SECRET in (d["text"] or "") for d in exported["documents"]) and len(exported["documents"]) >= 2
        assert len(exported["cache_entries"]) == 1
        listed = exported["files"]
        assert f"inbox/{USER}/{pending.name}" in {f["path"] for f in listed["inbox"]}
        assert len(listed["processed"]) >= 2  # the seeded copy and the ingested report's kept copy
        reasons = {q["sidecar"]["reason"] for q in listed["quarantine"] if q["sidecar"]}
        assert "too_large" in reasons
        assert len(exported["queue"]) == 3 and {q["where"] for q in exported["queue"]} == {"scheduled"}

        triggers.erase_user(USER)  # the app's way: the request is recorded, its id enqueued
        key = user_key(settings, USER)
        wait_for(
            lambda: (
                ErasureRequest.select().where(ErasureRequest.user_key == key, ErasureRequest.state == "done").exists()
            ),
            timeout=60,
            message="the erasure done",
        )
        counts = ErasureRequest.get(ErasureRequest.user_key == key).counts
        assert counts["queue_tasks"] == 3 and counts["documents"] >= 2
    finally:
        code = stop_gracefully(consumer)
        log.close()
    logs = log_path.read_text()
    assert code == 0, logs[-3000:]

    leftovers = {}
    for path in sorted(p for p in settings.home.rglob("*") if p.is_file()):
        found = _found(path.read_bytes())
        if found:
            leftovers[str(path.relative_to(settings.home))] = found
    assert leftovers == {}
    assert _found(logs.encode()) == [], [line for line in logs.splitlines() if _found(line.encode())][:5]
    assert _found(out.stderr.encode() + out.stdout.encode()) == []
    if env["MEDIFLUX_QUEUE_URL"].startswith("redis"):
        assert _found(_redis_dump(env["MEDIFLUX_QUEUE_URL"], env["MEDIFLUX_QUEUE_NAME"])) == []
    if env["MEDIFLUX_DATABASE_URL"].startswith("postgresql"):
        assert _found(_pg_dump(env["MEDIFLUX_DATABASE_URL"])) == []  # data and (pg queue) huey tables
    after = run_cli(env, "export-user", USER)
    assert after.returncode == 0, after.stderr
    again = json.loads(after.stdout)
    assert again["found"] is False and again["erased_at"] and again["queue"] == []
    assert again["files"] == {"inbox": [], "processed": [], "quarantine": []}
