"""`mediflux doctor`: a healthy install (real consumer heartbeat) passes; each problem is named with its fix."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from models import JobRun
from models.clock import utcnow
from models.database import open_database
from tests.conftest import ROOT, procfile_command, run_cli, wait_for
from worker import doctor, heartbeat, leases
from worker.config import load_settings


def _by_name(output: str) -> dict[str, dict]:
    data = json.loads(output)
    return {c["name"]: c for c in data["checks"]} | {"_ok": data["ok"]}


def test_healthy_install_with_a_real_consumer(env, database, home):
    e = env | {"MEDIFLUX_WATCH_POLLING": "1"}
    log = open(home / "consumer.log", "w")
    proc = subprocess.Popen(procfile_command("worker"), env=e, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: heartbeat.live_consumers(), timeout=30, message="the consumer's heartbeat")
        settings = load_settings(e)
        assert leases.acquire(f"watcher:{settings.inbox}", "test-watcher", dt.timedelta(minutes=1))
        result = run_cli(e, "doctor", "--json")
        checks = _by_name(result.stdout)
        assert result.returncode == 0, result.stdout
        assert checks["_ok"] is True
        for name in (
            "permissions",
            "inbox",
            "inotify",
            "database",
            "migrations",
            "consumer",
            "watcher",
            "queue",
            "clock",
            "disk",
        ):
            assert checks[name]["status"] == "ok", checks[name]
        assert checks["wal"]["status"] == ("ok" if settings.database_is_sqlite else "skip")
        human = run_cli(e, "doctor")
        assert human.returncode == 0 and human.stdout.strip().endswith("healthy")
        lines = [x for x in human.stdout.strip().splitlines() if not x.startswith("      fix: ")]
        assert len(lines) == len(checks) - 1 + 1  # warnings (the BDPM mirror is empty here) add their fix lines
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=40)
        log.close()
    # Heartbeats stop with the consumer: four minutes later it no longer counts as alive.
    later = doctor.run_checks(settings, now=utcnow() + dt.timedelta(minutes=4))
    status = {c.name: c for c in later}
    assert status["consumer"].status == "fail" and "honcho start worker" in status["consumer"].fix
    assert status["watcher"].status == "fail"
    assert not doctor.healthy(later)


def test_each_problem_is_reported_with_a_fix_and_nothing_is_changed(tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIFLUX_")} | {"MEDIFLUX_HOME": str(home)}
    assert run_cli(env, "migrate", "up").returncode == 0
    db_file = home / "mediflux.db"
    sqlite = open_database(f"sqlite:///{db_file}", bind=False)
    sqlite.execute_sql("PRAGMA journal_mode=delete")
    sqlite.close()
    os.chmod(home, 0o755)
    os.chmod(db_file, 0o644)
    shutil.rmtree(home / "inbox")
    result = run_cli(env, "doctor")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    for name in ("permissions", "inbox", "wal", "queue", "consumer", "watcher"):
        idx = next(i for i, line in enumerate(lines) if line.split()[:2] == ["FAIL", name])
        assert lines[idx + 1].strip().startswith("fix: "), (name, lines[idx + 1])
    assert "mediflux.db is 644" in result.stdout and "journal_mode is delete" in result.stdout
    assert lines[-1] == "problems found"
    # The doctor only looked: modes, journal, inbox and queue file are as it found them.
    assert oct(db_file.stat().st_mode & 0o777) == "0o644" and oct(home.stat().st_mode & 0o777) == "0o755"
    assert not (home / "inbox").exists() and not (home / "queue.db").exists()
    checks = _by_name(run_cli(env, "doctor", "--json").stdout)
    assert checks["_ok"] is False and checks["permissions"]["fix"].startswith("chmod 700")


def test_missing_database_and_pending_migrations(tmp_path):
    settings = load_settings({"MEDIFLUX_HOME": str(tmp_path / "h")})
    checks = {c.name: c for c in doctor.run_checks(settings)}
    assert checks["database"].status == "fail" and "migrate up" in checks["database"].fix
    assert checks["migrations"].status == "skip"
    empty = open_database(f"sqlite:///{tmp_path / 'empty.db'}", bind=False)
    pending = doctor.check_migrations(empty)
    assert pending.status == "fail" and "0001_initial" in pending.detail


def test_inotify_limits_from_the_kernel_files(tmp_path, settings):
    proc = tmp_path / "inotify"
    proc.mkdir()
    settings.inbox.mkdir(parents=True)
    for i in range(3):
        (settings.inbox / f"user{i}").mkdir()
    (proc / "max_user_watches").write_text("500\n")
    (proc / "max_user_instances").write_text("8\n")
    low = doctor.check_inotify(settings, proc)
    assert low.status == "fail" and "MEDIFLUX_WATCH_POLLING=1" in low.fix
    assert "max_user_watches 500 < 1028 (4 inbox folders" in low.detail and "max_user_instances 8" in low.detail
    (proc / "max_user_watches").write_text("65536\n")
    (proc / "max_user_instances").write_text("128\n")
    assert doctor.check_inotify(settings, proc).status == "ok"
    assert doctor.check_inotify(settings, tmp_path / "absent").status == "warn"
    polling = load_settings({"MEDIFLUX_HOME": str(settings.home), "MEDIFLUX_WATCH_POLLING": "1"})
    assert doctor.check_inotify(polling, tmp_path / "absent").status == "ok"


def test_clock_that_went_back_is_caught(database, settings):
    JobRun.create(job="housekeeping", started_at=utcnow() + dt.timedelta(hours=2), ok=True)
    check = doctor.check_clock(database, utcnow())
    assert check.status == "fail" and "clock went back" in check.detail
    assert doctor.check_clock(database, utcnow() + dt.timedelta(hours=3)).status == "ok"


class _Upstream(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_network_flag_checks_upstream_urls_without_leaking_them(env, database):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    e = env | {
        "MEDIFLUX_ODISSE_URL": f"http://127.0.0.1:{server.server_port}/api?apikey=topsecret-123",
        "MEDIFLUX_ANNUAIRE_URL": f"http://user:pw-secret@127.0.0.1:{closed}/fhir",
    }
    e.pop("MEDIFLUX_BDPM_URL", None)  # BDPM has no default: not configured, so not checked
    try:
        without = _by_name(run_cli(e, "doctor", "--json").stdout)
        assert "upstream odisse" not in without  # no network calls unless asked
        result = run_cli(e, "doctor", "--json", "--network")
    finally:
        server.shutdown()
        server.server_close()
    checks = _by_name(result.stdout)
    assert checks["upstream odisse"]["status"] == "ok" and "HTTP 200" in checks["upstream odisse"]["detail"]
    assert checks["upstream annuaire"]["status"] == "fail" and "ConnectError" in checks["upstream annuaire"]["detail"]
    assert checks["upstream bdpm"]["status"] == "skip"
    assert result.returncode == 1
    for secret in ("topsecret-123", "pw-secret", "/fhir", "apikey"):
        assert secret not in result.stdout + result.stderr
