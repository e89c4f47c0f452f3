"""Operating the mirror: the CLI, the bdpm_sync job (settings, due at start, exactly once, a real consumer),
the doctor and the dashboard page."""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from models import PeriodicJob, db
from models.clock import utcnow
from tests.bdpm_data import reference_folder, subset_files
from tests.bdpm_server import BdpmSite
from tests.conftest import ROOT, procfile_command, run_cli, wait_for
from worker import doctor, periodic
from worker.bdpm import store
from worker.bdpm.sync import sync
from worker.config import ConfigError, load_settings
from worker.dashboard.server import DashboardApp, serve_in_thread
from worker.queue import build_huey
from worker.schedule import PERIODIC_JOBS, jobs_for


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    ref = reference_folder(tmp_path_factory.mktemp("bdpm-ref"))
    return subset_files(ref, tmp_path_factory.mktemp("bdpm-small"), specialities=120)


@pytest.fixture
def site(small: dict[str, bytes]) -> Iterator[BdpmSite]:
    with BdpmSite(small) as s:
        yield s


@pytest.fixture
def site_env(env: dict[str, str], site: BdpmSite) -> dict[str, str]:
    return {**env, "MEDIFLUX_BDPM_FILES_URL": site.url}


def test_settings_choose_the_source_and_the_interval(env: dict[str, str]) -> None:
    default = load_settings({k: v for k, v in env.items() if k != "MEDIFLUX_BDPM_FILES_URL"})
    assert default.bdpm_files_url == "https://base-donnees-publique.medicaments.gouv.fr/download/file/"
    assert jobs_for(default)["bdpm_sync"].interval == dt.timedelta(days=1)
    custom = load_settings(
        {**env, "MEDIFLUX_BDPM_FILES_URL": "http://mirror.local/bdpm", "MEDIFLUX_BDPM_SYNC_EVERY": "12h"}
    )
    assert custom.bdpm_files_url == "http://mirror.local/bdpm/"
    assert jobs_for(custom)["bdpm_sync"].interval == dt.timedelta(hours=12)
    assert list(jobs_for(custom)) == list(PERIODIC_JOBS)
    for name, value in (
        ("MEDIFLUX_BDPM_SYNC_EVERY", "often"),
        ("MEDIFLUX_BDPM_SYNC_EVERY", "5s"),
        ("MEDIFLUX_BDPM_FILES_URL", "ftp://x"),
    ):
        with pytest.raises(ConfigError, match=name):
            load_settings({**env, name: value})


def test_cli_sync_status_get(database, site_env: dict[str, str], small: dict[str, bytes]) -> None:
    empty = run_cli(site_env, "bdpm", "get", "61266250")
    assert empty.returncode == 1 and "mirror is empty" in empty.stderr
    assert run_cli(site_env, "bdpm", "get", "12ab").returncode == 2
    done = run_cli(site_env, "bdpm", "sync", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["outcome"] == "updated" and result["files"]["CIS_bdpm.txt"]["rows"] == 120
    again = run_cli(site_env, "bdpm", "sync")
    assert again.returncode == 0 and "unchanged" in again.stdout
    status = json.loads(run_cli(site_env, "bdpm", "status", "--json").stdout)
    assert status["version"] == result["version"] and status["last_outcome"] == "unchanged"
    assert {f["name"]: f["encoding"] for f in status["files"]}["CIS_bdpm.txt"] == "utf-8"
    assert status["next_due_at"] is not None
    human = run_cli(site_env, "bdpm", "status")
    assert f"version {result['version']}" in human.stdout and "CIS_COMPO_bdpm.txt" in human.stdout
    cis = small["CIS_bdpm.txt"].split(b"\t", 1)[0].decode()
    got = json.loads(run_cli(site_env, "bdpm", "get", cis, "--json").stdout)
    assert got["CIS"] == cis and got["substances"]
    cip13 = small["CIS_CIP_bdpm.txt"].split(b"\t")[6].decode()
    by_box = run_cli(site_env, "bdpm", "get", cip13)
    assert by_box.returncode == 0 and cip13 in by_box.stdout
    assert run_cli(site_env, "bdpm", "get", "00000000").returncode == 1


def test_cli_sync_failure_exits_1_and_keeps_the_version(database, site_env: dict[str, str], site: BdpmSite) -> None:
    assert run_cli(site_env, "bdpm", "sync").returncode == 0
    site.inject("CIS_bdpm.txt", "html")
    failed = run_cli(site_env, "bdpm", "sync", "--force")
    assert failed.returncode == 1 and "HTML page" in failed.stderr and "the current version stays" in failed.stderr


def test_cli_accept_changes_lets_one_real_shrink_through(database, site_env: dict[str, str], site: BdpmSite) -> None:
    helped = run_cli(site_env, "bdpm", "sync", "--help")
    assert "--accept-changes" in helped.stdout and "For this sync only" in helped.stdout
    first = json.loads(run_cli(site_env, "bdpm", "sync", "--json").stdout)
    lines = site.files["CIS_CPD_bdpm.txt"].splitlines(keepends=True)
    site.files["CIS_CPD_bdpm.txt"] = b"".join(lines[: int(len(lines) * 0.7)])  # upstream dropped 30 % of them
    refused = run_cli(site_env, "bdpm", "sync")
    assert refused.returncode == 1 and "CIS_CPD_bdpm.txt" in refused.stderr and "at most -20%" in refused.stderr
    assert "the current version stays" in refused.stderr and store.current_version(db) == first["version"]
    accepted = run_cli(site_env, "bdpm", "sync", "--accept-changes", "--json")
    assert accepted.returncode == 0, accepted.stderr
    result = json.loads(accepted.stdout)
    assert result["outcome"] == "updated" and result["previous"] == first["version"]
    assert "row-count guards skipped for this sync (changes accepted)" in result["notes"]
    assert store.version_counts(db, result["version"])["conditions"] == int(len(lines) * 0.7)
    site.files["CIS_CPD_bdpm.txt"] = b"".join(lines[: int(len(lines) * 0.3)])  # the guards are back next run
    again = run_cli(site_env, "bdpm", "sync")
    assert again.returncode == 1 and "at most -20%" in again.stderr


def test_the_job_is_due_at_start_while_the_mirror_is_empty(database, site_env: dict[str, str]) -> None:
    settings = load_settings(site_env)
    jobs = jobs_for(settings)
    periodic.sync_jobs(jobs)
    later = utcnow() + dt.timedelta(hours=6)
    PeriodicJob.update(next_due_at=later).where(PeriodicJob.name == "bdpm_sync").execute()
    periodic.sync_jobs(jobs)  # a start-up: the mirror is empty, so the job is due now
    assert PeriodicJob.get(PeriodicJob.name == "bdpm_sync").next_due_at <= utcnow()
    outcomes: list[periodic.RunOutcome] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(periodic.run_job(jobs["bdpm_sync"], settings)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(o.ran for o in outcomes) == [False, False, True]  # exactly one consumer ran it
    ran = next(o for o in outcomes if o.ran)
    assert ran.ok and ran.summary["outcome"] == "updated"
    PeriodicJob.update(next_due_at=later).where(PeriodicJob.name == "bdpm_sync").execute()
    periodic.sync_jobs(jobs)  # not empty any more: left as scheduled
    assert PeriodicJob.get(PeriodicJob.name == "bdpm_sync").next_due_at == later


def test_a_failed_sync_job_is_recorded_and_retried_soon(database, site_env: dict[str, str], site: BdpmSite) -> None:
    settings = load_settings(site_env)
    jobs = jobs_for(settings)
    periodic.sync_jobs(jobs)
    site.inject("CIS_bdpm.txt", "500", "500")
    outcome = periodic.run_job(jobs["bdpm_sync"], settings)
    assert outcome.ran and not outcome.ok and "HTTP 500" in (outcome.error or "")
    row = PeriodicJob.get(PeriodicJob.name == "bdpm_sync")
    assert row.consecutive_failures == 1 and row.next_due_at < utcnow() + dt.timedelta(minutes=10)


def test_a_real_consumer_fills_an_empty_mirror_at_start(database, site_env: dict[str, str], home: Path) -> None:
    with open(home / "consumer.log", "w") as log:
        proc = subprocess.Popen(
            procfile_command("worker"), env=site_env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            version = wait_for(lambda: store.current_version(db), timeout=60, message="the consumer's first sync")
            assert store.version_counts(db, version)["specialites"] == 120
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=40)


def test_doctor_reports_empty_stale_and_refused(database, site_env: dict[str, str], site: BdpmSite) -> None:
    settings = load_settings(site_env)

    def bdpm(now: dt.datetime | None = None) -> doctor.Check:
        try:
            return {c.name: c for c in doctor.run_checks(settings, now=now)}["bdpm"]
        finally:
            db.initialize(database)  # the doctor binds the models to its read-only connection

    empty = bdpm()
    assert empty.status == "warn" and "empty" in empty.detail and "mediflux bdpm sync" in (empty.fix or "")
    assert sync(settings).outcome == "updated"
    assert bdpm().status == "ok"
    stale = bdpm(utcnow() + dt.timedelta(days=4))
    assert stale.status == "warn" and stale.detail.startswith("stale")
    lines = site.files["CIS_bdpm.txt"].splitlines(keepends=True)
    site.files["CIS_bdpm.txt"] = b"".join(lines[:60])
    assert sync(settings).outcome == "rejected"
    refused = bdpm()
    assert refused.status == "warn" and "rejected" in refused.detail and "CIS_bdpm.txt" in refused.detail


def test_dashboard_page_shows_the_mirror(database, site_env: dict[str, str]) -> None:
    settings = load_settings(site_env)
    server, _ = serve_in_thread(DashboardApp(settings, database, build_huey(settings)))
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        assert "Empty" in httpx.get(base + "/bdpm", timeout=10).text
        result = sync(settings)
        page = httpx.get(base + "/bdpm", timeout=10).text
        assert re.search(r'id="bdpm-version">(\d+)<', page).group(1) == str(result.version)
        rows = sum(store.version_counts(db, result.version).values())
        assert f'data-rows="{rows}"' in page and 'id="bdpm-outcome">updated<' in page
        assert 'href="/bdpm"' in httpx.get(base + "/", timeout=10).text
    finally:
        server.shutdown()
        server.server_close()


def test_data_api_get_medicine_sync_and_async(database, site_env: dict[str, str], small: dict[str, bytes]) -> None:
    import asyncio

    from worker.api import open_api, open_async_api

    settings = load_settings(site_env)
    api = open_api(settings)
    try:
        assert api.get_medicine("61266250") is None  # empty mirror
        assert sync(settings).outcome == "updated"
        cis = small["CIS_bdpm.txt"].split(b"\t", 1)[0].decode()
        cip13 = small["CIS_CIP_bdpm.txt"].split(b"\t")[6].decode()
        found = api.get_medicine(cis)
        assert found is not None and found["CIS"] == cis
        assert api.get_medicine(cip13)["presentation"]["CIP13"] == cip13
        assert api.get_medicine("not a code") is None
    finally:
        api.close()

    async def read() -> dict | None:
        aapi = open_async_api(settings)
        try:
            return await aapi.get_medicine(cis)
        finally:
            await aapi.close()

    assert asyncio.run(read()) == found


def test_status_lists_the_bad_rows_of_each_file(database, site_env: dict[str, str], site: BdpmSite) -> None:
    lines = site.files["CIS_COMPO_bdpm.txt"].splitlines(keepends=True)
    site.files["CIS_COMPO_bdpm.txt"] = b"".join(lines + lines[:7])  # 7 repeated lines: bad rows, under 5 %
    assert run_cli(site_env, "bdpm", "sync").returncode == 0
    status = json.loads(run_cli(site_env, "bdpm", "status", "--json").stdout)
    compo = {f["name"]: f for f in status["files"]}["CIS_COMPO_bdpm.txt"]
    expected = [{"line": len(lines) + i + 1, "reason": f"duplicate of line {i + 1}"} for i in range(7)]
    assert compo["bad_rows"] == 7 and compo["bad"] == expected
    human = run_cli(site_env, "bdpm", "status")
    assert human.returncode == 0, human.stderr
    out = human.stdout
    assert "CIS_COMPO_bdpm.txt: 7 bad rows" in out
    for bad in expected[:5]:
        assert f"  line {bad['line']}: {bad['reason']}\n" in out
    assert f"line {expected[5]['line']}:" not in out and "… 2 more" in out
    assert all(len(line) <= 200 for line in out.splitlines())


def test_an_optional_file_failing_on_an_unchanged_sync_is_shown(
    database, site_env: dict[str, str], site: BdpmSite
) -> None:
    assert run_cli(site_env, "bdpm", "sync").returncode == 0
    site.inject("CIS_HAS_SMR_bdpm.txt", "500", "500")  # optional: the last good copy is used; retried once
    again = run_cli(site_env, "bdpm", "sync", "--json")
    assert again.returncode == 0, again.stderr
    status = json.loads(run_cli(site_env, "bdpm", "status", "--json").stdout)
    assert status["last_outcome"] == "unchanged"
    assert "CIS_HAS_SMR_bdpm.txt" in (status["last_error"] or "") and "HTTP 500" in status["last_error"]
    result = json.loads(again.stdout)
    assert result["outcome"] == "unchanged"
    assert any("CIS_HAS_SMR_bdpm.txt" in w and "HTTP 500" in w for w in result["warnings"]), result
    human = run_cli(site_env, "bdpm", "status").stdout
    assert "last sync warning: CIS_HAS_SMR_bdpm.txt" in human and "HTTP 500" in human
    clean = run_cli(site_env, "bdpm", "sync")
    assert clean.returncode == 0 and "unchanged" in clean.stdout
    assert json.loads(run_cli(site_env, "bdpm", "status", "--json").stdout)["last_error"] is None


def test_an_optional_file_failing_on_an_updated_sync_is_shown(
    database, site_env: dict[str, str], site: BdpmSite
) -> None:
    assert run_cli(site_env, "bdpm", "sync").returncode == 0
    site.files["CIS_CPD_bdpm.txt"] += (
        site.files["CIS_CPD_bdpm.txt"].splitlines(keepends=True)[0].replace(b"\t", b"\tautre condition ", 1)
    )
    site.inject("CIS_HAS_ASMR_bdpm.txt", "500", "500")
    done = run_cli(site_env, "bdpm", "sync", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["outcome"] == "updated", done.stderr
    status = json.loads(run_cli(site_env, "bdpm", "status", "--json").stdout)
    assert "CIS_HAS_ASMR_bdpm.txt" in (status["last_error"] or "") and status["last_outcome"] == "updated"
    assert any("CIS_HAS_ASMR_bdpm.txt" in w for w in status["warnings"])
    human = run_cli(site_env, "bdpm", "status").stdout
    assert "last sync warning: CIS_HAS_ASMR_bdpm.txt" in human and "warning: CIS_HAS_ASMR_bdpm.txt" in human
    assert "note: CIS_CPD_bdpm.txt: +1 rows" in human
