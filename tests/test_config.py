"""Settings: zero-config defaults, and one line naming the variable (exit 2) for a bad value."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT, _clean_env, procfile_command
from worker.config import ConfigError, load_settings


def test_zero_config_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings({})
    assert s.home == tmp_path / "var"
    assert s.database_url == f"sqlite:///{tmp_path / 'var' / 'mediflux.db'}"
    assert s.queue_url == f"sqlite:///{tmp_path / 'var' / 'queue.db'}"
    assert s.inbox == tmp_path / "var" / "inbox"
    assert s.keep_processed is False and s.max_file_mb == 50 and s.watch_polling is False


def test_home_drives_the_other_paths(tmp_path):
    s = load_settings({"MEDIFLUX_HOME": str(tmp_path / "h"), "MEDIFLUX_INBOX": str(tmp_path / "in")})
    assert s.database_url.endswith("/h/mediflux.db") and s.inbox == tmp_path / "in"


@pytest.mark.parametrize(
    "variable, value",
    [
        ("MEDIFLUX_DATABASE_URL", "mysql://root@localhost/x"),
        ("MEDIFLUX_DATABASE_URL", "sqlite://"),
        ("MEDIFLUX_QUEUE_URL", "amqp://guest:secret@localhost"),
        ("MEDIFLUX_KEEP_PROCESSED", "maybe"),
        ("MEDIFLUX_MAX_FILE_MB", "-3"),
        ("MEDIFLUX_MAX_FILE_MB", "lots"),
        ("MEDIFLUX_WATCH_POLLING", "2"),
        ("MEDIFLUX_LOG_FORMAT", "xml"),
        ("MEDIFLUX_QUEUE_NAME", "a/b"),
    ],
)
def test_bad_values_name_the_variable(variable, value):
    with pytest.raises(ConfigError) as info:
        load_settings({variable: value})
    assert str(info.value).startswith(variable + ":")
    assert "secret" not in str(info.value)  # URLs may carry passwords: never echoed


@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "-m", "worker.cli", "status"],
        [sys.executable, "-c", "import tasks; tasks.connect()"],  # the app's start-up
        "consumer",  # the Procfile's worker: huey_consumer tasks.huey connects on loading tasks.huey
    ],
)
def test_processes_stop_with_one_line_and_exit_2(tmp_path, argv):
    if argv == "consumer":
        argv = procfile_command("worker")
    env = _clean_env() | {"MEDIFLUX_HOME": str(tmp_path), "MEDIFLUX_QUEUE_URL": "ftp://x"}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "MEDIFLUX_QUEUE_URL" in lines[0]


@pytest.mark.parametrize(
    "url",
    ["http://annuaire.example.org/fhir", "HTTP://10.0.0.5:8080/fhir", "http://127.0.0.1.nip.io/fhir", "http://[::2]/x"],
)
def test_an_api_key_is_never_sent_over_plain_http(url):
    with pytest.raises(ConfigError) as info:
        load_settings({"MEDIFLUX_ANNUAIRE_URL": url, "MEDIFLUX_ANNUAIRE_API_KEY": "k3y-s3cr3t"})
    message = str(info.value)
    assert message.startswith("MEDIFLUX_ANNUAIRE_URL:") and "MEDIFLUX_ANNUAIRE_API_KEY" in message
    assert "\n" not in message and "k3y-s3cr3t" not in message and "example.org" not in message


@pytest.mark.parametrize(
    "url",
    [
        "https://annuaire.example.org/fhir",
        "http://127.0.0.1:8080/fhir",
        "http://127.8.9.10/fhir",
        "http://localhost:8080/fhir",
        "http://[::1]:8080/fhir",
    ],
)
def test_an_api_key_goes_over_https_or_to_a_loopback_host(url):
    settings = load_settings({"MEDIFLUX_ANNUAIRE_URL": url, "MEDIFLUX_ANNUAIRE_API_KEY": "k3y"})
    assert settings.upstreams["annuaire"].url == url and settings.upstreams["annuaire"].secret == "k3y"


def test_plain_http_without_a_key_is_accepted():
    settings = load_settings({"MEDIFLUX_ANNUAIRE_URL": "http://annuaire.example.org/fhir"})
    assert settings.upstreams["annuaire"].url == "http://annuaire.example.org/fhir"


def test_a_consumer_refuses_a_key_over_plain_http_with_one_line(tmp_path):
    env = _clean_env() | {
        "MEDIFLUX_HOME": str(tmp_path),
        "MEDIFLUX_ANNUAIRE_URL": "http://annuaire.example.org/fhir",
        "MEDIFLUX_ANNUAIRE_API_KEY": "k3y",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "worker.cli", "status"], env=env, capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "MEDIFLUX_ANNUAIRE_URL" in lines[0] and "k3y" not in lines[0]
