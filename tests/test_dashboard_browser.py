"""The Procfile `dashboard` line in a real headless chromium: pages load, numbers match the database,
no personal data anywhere, an action goes through with the token; screenshots saved as artifacts."""

from __future__ import annotations

import socket
import subprocess

import pytest

from models import Document, PeriodicJob
from models.clock import utcnow
from tests.browser import browser, save_screenshot  # noqa: F401  (fixture)
from tests.conftest import ROOT, procfile_command, wait_for
from tests.dashboard_seed import PII, QUARANTINED_NAME, seed
from worker.config import load_settings
from worker.queue import build_huey

TOKEN = "browser-test-token-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dashboard_url(env, database, home):
    port = _free_port()
    e = env | {
        "MEDIFLUX_DASHBOARD_PORT": str(port),
        "MEDIFLUX_DASHBOARD_ACTIONS": "1",
        "MEDIFLUX_DASHBOARD_TOKEN": TOKEN,
    }
    settings = load_settings(e)
    seed(settings, build_huey(settings))
    log = open(home / "dashboard.log", "w")
    proc = subprocess.Popen(procfile_command("dashboard"), env=e, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def up() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return proc.poll() is not None and pytest.fail((home / "dashboard.log").read_text())

    try:
        wait_for(up, timeout=30, message="dashboard to listen")
        yield f"http://127.0.0.1:{port}", settings
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def _cells(driver, table_id: str, label: str) -> list[str]:
    from selenium.webdriver.common.by import By

    for row in driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr"):
        cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
        if cells and cells[0] == label:
            return cells
    raise AssertionError(f"no row {label!r} in #{table_id}")


def test_dashboard_in_headless_chromium(browser, dashboard_url, tmp_path, database_url):  # noqa: F811
    from selenium.webdriver.common.by import By

    base, settings = dashboard_url
    backend = database_url.split(":", 1)[0]
    for path, name in (
        ("/", "overview"),
        ("/documents", "documents"),
        ("/cache", "cache"),
        ("/jobs", "jobs"),
        ("/retention", "retention"),
    ):
        browser.get(base + path)
        assert browser.find_element(By.TAG_NAME, "h1").text
        html = browser.page_source
        for secret in PII:
            assert secret not in html, (path, secret)
        shot = save_screenshot(browser, tmp_path, f"dashboard-{name}-{backend}.png")
        assert shot.stat().st_size > 5000
    browser.get(base + "/documents")
    assert browser.find_element(By.ID, "documents-total").text == str(Document.select().count())
    assert _cells(browser, "by-type", "ordonnance")[1] == "2"
    bars = browser.find_elements(By.CSS_SELECTOR, "#per-hour rect.bar")
    assert sum(int(b.get_attribute("data-value")) for b in bars) == 4
    browser.get(base + "/")
    assert _cells(browser, "error-rates", "last hour")[1:3] == ["5", "1"]
    browser.get(base + "/cache")
    assert _cells(browser, "cache", "bdpm")[1:4] == ["2", "1", "0"]
    # An operator retries the quarantined file: types the token, clicks "retry".
    browser.get(base + "/documents")
    form = browser.find_element(By.CSS_SELECTOR, "#quarantine form")
    form.find_element(By.NAME, "token").send_keys(TOKEN)
    form.find_element(By.TAG_NAME, "button").click()
    # find_elements, not find_element: until the redirected page has loaded there is no #message yet
    wait_for(
        lambda: any("moved back to the inbox" in e.text for e in browser.find_elements(By.ID, "message")),
        timeout=10,
        message="the retry confirmation",
    )
    assert (settings.inbox / "patient-4711" / QUARANTINED_NAME).exists()
    assert browser.find_element(By.ID, "quarantine").text == "nothing in quarantine"
    # A wrong token does nothing.
    browser.get(base + "/jobs")
    before = PeriodicJob.get(PeriodicJob.name == "housekeeping").next_due_at
    form = browser.find_element(By.CSS_SELECTOR, "#jobs form")
    form.find_element(By.NAME, "token").send_keys("wrong-token-wrong-token")
    form.find_element(By.TAG_NAME, "button").click()
    wait_for(lambda: "Refused" in browser.title, timeout=10, message="the refusal page")
    assert browser.find_element(By.ID, "message").text == "bad token: nothing was done"
    assert PeriodicJob.get(PeriodicJob.name == "housekeeping").next_due_at == before > utcnow()
    save_screenshot(browser, tmp_path, f"dashboard-refused-{backend}.png")
