"""The dashboard over real HTTP (server thread on 127.0.0.1, SQLite and PostgreSQL): numbers, privacy, actions."""

from __future__ import annotations

import dataclasses
import io
import logging
import re

import httpx
import pytest

from models import PeriodicJob
from models.clock import utcnow
from tests.conftest import run_cli
from tests.dashboard_seed import PII, QUARANTINED_NAME, SECRET, create_retention_audit, seed
from worker.config import load_settings
from worker.dashboard.server import DashboardApp, serve_in_thread
from worker.logsetup import build_handler
from worker.queue import build_huey

TOKEN = "correct-horse-battery-staple"


@pytest.fixture
def huey(settings):
    return build_huey(settings)


@pytest.fixture
def serve(database, huey):
    servers = []

    def start(settings):
        server, _ = serve_in_thread(DashboardApp(settings, database, huey))
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _cell(html: str, table_id: str, row_label: str) -> list[str]:
    table = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S).group(1)
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        if cells and cells[0] == row_label:
            return cells
    raise AssertionError(f"no row {row_label!r} in {table_id}")


def test_pages_show_database_numbers_and_no_personal_data(settings, database, huey, serve):
    expected = seed(settings, huey)
    noop = huey.task()(lambda: None)
    for _ in range(3):
        noop()
    base = serve(settings)
    pages = {p: httpx.get(base + p, timeout=10) for p in ("/", "/documents", "/cache", "/jobs", "/retention")}
    for path, response in pages.items():
        assert response.status_code == 200, path
        assert "script" not in response.headers["content-security-policy"]
        for secret in PII:
            assert secret not in response.text, (path, secret)
    overview = pages["/"].text
    assert _cell(overview, "queue", "pending")[1] == str(huey.pending_count()) == "3"
    assert overview.count("<tr><td>") >= 3 and "queue empty" not in overview
    assert _cell(overview, "queue", "pending at priority 0 (default)")[1] == "3"
    assert _cell(overview, "queue", "in flight")[1] == "2"
    hour = _cell(overview, "error-rates", "last hour")
    assert hour[1:5] == ["5", "1", "0", "16.7 %"]
    bars = re.findall(r'data-series="completed"[^>]*data-value="(\d+)"', overview)
    assert sum(map(int, bars)) == 5
    docs = pages["/documents"].text
    assert re.search(r'id="documents-total">(\d+)<', docs).group(1) == str(expected["documents"])
    for doc_type, n in expected["by_type"].items():
        assert _cell(docs, "by-type", doc_type)[1] == str(n)
    chart = re.search(r'id="per-hour".*?</svg>', docs, re.S).group(0)
    assert sum(map(int, re.findall(r'data-value="(\d+)"', chart))) == expected["last_24h"]
    latest = re.search(r'<table id="latest">(.*?)</table>', docs, re.S).group(1)
    assert latest.count("<tr>") == 1 + expected["documents"] and "03ababababab" in latest and "ffffffffffff" in latest
    assert "unreadable: &lt;file&gt; has no text layer" in docs  # the reason, with the filename scrubbed
    cache = pages["/cache"].text
    bdpm = _cell(cache, "cache", "bdpm")
    assert bdpm[1:4] == ["2", "1", "0"] and bdpm[6:9] == ["60", "20", "75.0 %"]
    annuaire = _cell(cache, "cache", "annuaire")
    assert (
        annuaire[1:4] == ["0", "0", "1"] and annuaire[5] == "1" and annuaire[8:11] == ["0.0 %", "3", "HTTPStatusError"]
    )
    jobs = pages["/jobs"].text
    hk = _cell(jobs, "jobs", "housekeeping")
    assert hk[3] == "120" and hk[6] == "OperationalError" and hk[7] == "2"
    assert 'id="runs-housekeeping"' in jobs
    assert "No audit yet" in pages["/retention"].text
    create_retention_audit(3)
    audit = httpx.get(base + "/retention", timeout=10).text
    assert audit.count("<tr>") == 4 and "documents" in audit and "duration_ms" in audit


def test_read_only_by_default(settings, database, huey, serve):
    seed(settings, huey)
    base = serve(settings)
    assert "<form" not in httpx.get(base + "/documents", timeout=10).text
    refused = httpx.post(base + "/actions/run-job", data={"name": "housekeeping", "token": "x" * 20}, timeout=10)
    assert refused.status_code == 403
    assert httpx.get(base + "/", headers={"Host": "evil.example:80"}, timeout=10).status_code == 421


@pytest.fixture
def dashboard_log(settings):
    """What the dashboard logs, through the handler every process uses (the logger does not propagate)."""
    stream = io.StringIO()
    handler = build_handler(settings, stream)
    logger = logging.getLogger("mediflux.dashboard")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


def test_actions_need_post_and_the_token_and_are_logged(settings, database, huey, serve, dashboard_log):
    seed(settings, huey)
    enabled = dataclasses.replace(settings, dashboard_actions=True, dashboard_token=TOKEN)
    base = serve(enabled)
    assert 'name="token"' in httpx.get(base + "/documents", timeout=10).text
    assert TOKEN not in httpx.get(base + "/jobs", timeout=10).text
    past = utcnow()
    assert httpx.get(base + "/actions/run-job?name=housekeeping&token=" + TOKEN, timeout=10).status_code == 405
    assert (
        httpx.post(
            base + "/actions/run-job", data={"name": "housekeeping", "token": TOKEN + "x"}, timeout=10
        ).status_code
        == 403
    )
    assert (
        httpx.post(
            base + "/actions/run-job",
            data={"name": "housekeeping", "token": TOKEN},
            headers={"Origin": "https://evil.example"},
            timeout=10,
        ).status_code
        == 403
    )
    assert PeriodicJob.get(PeriodicJob.name == "housekeeping").next_due_at > past  # nothing done yet
    done = httpx.post(base + "/actions/run-job", data={"name": "housekeeping", "token": TOKEN}, timeout=10)
    assert done.status_code == 303 and done.headers["location"] == "/jobs?done=job-due"
    assert PeriodicJob.get(PeriodicJob.name == "housekeeping").next_due_at <= utcnow()
    # Retry: the quarantined file goes back to the user's inbox folder; the sidecar goes.
    ref = re.search(r'name="ref" value="([0-9a-f]{12})"', httpx.get(base + "/documents", timeout=10).text).group(1)
    moved = httpx.post(base + "/actions/retry", data={"ref": ref, "token": TOKEN}, timeout=10)
    assert moved.status_code == 303
    assert (settings.inbox / "patient-4711" / QUARANTINED_NAME).exists()
    assert not list((settings.home / "quarantine").iterdir())
    again = httpx.post(base + "/actions/retry", data={"ref": ref, "token": TOKEN}, timeout=10, follow_redirects=True)
    assert "refused: no quarantined file" in again.text
    # Revoke: a task id is revoked in the queue.
    task_id = "0f0e0d0c-1111-2222-3333-444455556666"
    assert (
        httpx.post(base + "/actions/revoke", data={"task_id": task_id, "token": TOKEN}, timeout=10).status_code == 303
    )
    assert huey.is_revoked(task_id)
    logged = dashboard_log.getvalue()
    assert "dashboard action run-job: job housekeeping is due now" in logged
    assert f"dashboard action retry: quarantined file {ref}" in logged
    assert "refused: bad token" in logged and "refused: cross-origin" in logged
    assert TOKEN not in logged and QUARANTINED_NAME not in logged and SECRET not in logged


def test_action_settings_are_checked_at_start(env):
    missing = run_cli(env | {"MEDIFLUX_DASHBOARD_ACTIONS": "1"}, "dashboard")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "MEDIFLUX_DASHBOARD_TOKEN" in missing.stderr
    short = run_cli(env | {"MEDIFLUX_DASHBOARD_TOKEN": "hunter2"}, "dashboard")
    assert short.returncode == 2 and "MEDIFLUX_DASHBOARD_TOKEN" in short.stderr and "hunter2" not in short.stderr
    bad_port = run_cli(env | {"MEDIFLUX_DASHBOARD_PORT": "99999"}, "dashboard")
    assert bad_port.returncode == 2 and "MEDIFLUX_DASHBOARD_PORT" in bad_port.stderr
    settings = load_settings(env | {"MEDIFLUX_DASHBOARD_ACTIONS": "1", "MEDIFLUX_DASHBOARD_TOKEN": TOKEN})
    assert settings.dashboard_token == TOKEN and TOKEN not in repr(settings)


def test_a_failing_page_answers_500_with_the_error_type_only(settings, database, huey, serve):
    base = serve(settings)
    database.execute_sql("DROP TABLE api_cache")  # e.g. a half-migrated database
    response = httpx.get(base + "/cache", timeout=10)
    assert response.status_code == 500 and "this page failed (" in response.text
    assert "api_cache" not in response.text and "Traceback" not in response.text
    assert httpx.get(base + "/jobs", timeout=10).status_code == 200  # the rest still works


PHISHING = "Session expired: call 01 23 45 67 89 and give your token"


def test_the_banner_shows_fixed_texts_only(settings, database, huey, serve):
    enabled = dataclasses.replace(settings, dashboard_actions=True, dashboard_token=TOKEN)
    base = serve(enabled)
    for query in (f"message={PHISHING}", f"done={PHISHING}", "done=%3Cb%3Ex", "message=job-due"):
        page = httpx.get(f"{base}/", params=dict([query.split("=", 1)]), timeout=10)
        assert page.status_code == 200
        assert 'id="message"' not in page.text and "Session expired" not in page.text and "01 23" not in page.text
    page = httpx.get(f"{base}/jobs?done=job-due", timeout=10)
    assert "the job is due now: the next scheduler tick runs it" in page.text
    # An action whose form carries attacker text still redirects to a code, and the page shows its fixed text.
    refused = httpx.post(base + "/actions/run-job", data={"name": PHISHING, "token": TOKEN}, timeout=10)
    assert refused.status_code == 303 and refused.headers["location"] == "/jobs?done=no-such-job"
    shown = httpx.get(base + refused.headers["location"], timeout=10).text
    assert "refused: no such periodic job" in shown and "Session expired" not in shown


def test_an_action_from_a_null_origin_is_refused(settings, database, huey, serve, dashboard_log):
    seed(settings, huey)
    enabled = dataclasses.replace(settings, dashboard_actions=True, dashboard_token=TOKEN)
    base = serve(enabled)
    past = utcnow()
    refused = httpx.post(
        base + "/actions/run-job",
        data={"name": "housekeeping", "token": TOKEN},
        headers={"Origin": "null"},
        timeout=10,
    )
    assert refused.status_code == 403
    assert PeriodicJob.get(PeriodicJob.name == "housekeeping").next_due_at > past  # nothing done
    assert "refused: cross-origin" in dashboard_log.getvalue()
    same_origin = httpx.post(
        base + "/actions/run-job", data={"name": "housekeeping", "token": TOKEN}, headers={"Origin": base}, timeout=10
    )
    assert same_origin.status_code == 303


def test_no_response_may_be_framed(settings, database, huey, serve):
    enabled = dataclasses.replace(settings, dashboard_actions=True, dashboard_token=TOKEN)
    base = serve(enabled)
    responses = [
        httpx.get(base + "/", timeout=10),
        httpx.get(base + "/nowhere", timeout=10),
        httpx.post(base + "/actions/run-job", data={"name": "housekeeping", "token": TOKEN}, timeout=10),
        httpx.post(base + "/actions/run-job", data={"name": "housekeeping", "token": "wrong"}, timeout=10),
    ]
    for response in responses:
        assert response.headers["x-frame-options"] == "DENY", response.url
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
