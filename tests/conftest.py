"""Shared fixtures: real SQLite files in temp dirs, real PostgreSQL/Redis when reachable.

Backends: tests that take ``database`` run on SQLite and PostgreSQL (a schema of
their own per test); tests that take ``queue_url`` run on SQLite, Redis and
PostgreSQL queues. Unreachable services skip with a reason, except under
CI=true, where they fail (.ci/run starts them).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import peewee
import pytest

from models import migrator
from models.database import open_database
from worker.config import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("MEDIFLUX_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MEDIFLUX_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run soaks and long benchmarks (marker: slow)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or fail under CI) when a service the test needs is down."""
    if _reachable(host, port):
        return
    message = f"{name} not reachable on {host}:{port}"
    if IN_CI:
        pytest.fail(message + " (CI=true: .ci/run should have started it)")
    pytest.skip(message)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MEDIFLUX_")}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test (dropped after), as a database URL."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = open_database(PG_URL, bind=False)
    admin.execute_sql(f"CREATE SCHEMA {schema}")
    admin.close()
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        admin.connect(reuse_if_open=True)
        admin.execute_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, home: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{home / 'mediflux.db'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture(params=["sqlite", "redis", "postgresql"])
def queue_url(request: pytest.FixtureRequest, home: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{home / 'queue.db'}"
    if request.param == "redis":
        require_service("Redis", "127.0.0.1", 6379)
        return REDIS_URL
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def env(home: Path, database_url: str) -> dict[str, str]:
    """Environment for a mediflux process of this test (home, database, a private queue name)."""
    e = _clean_env()
    e.update(
        {
            "MEDIFLUX_HOME": str(home),
            "MEDIFLUX_DATABASE_URL": database_url,
            "MEDIFLUX_QUEUE_NAME": "t" + uuid.uuid4().hex[:10],
            # The BDPM mirror's job runs in every consumer while the mirror is empty: never the real site in tests
            # (port 9, discard: refused at once); the mirror's own tests point it at their local server.
            "MEDIFLUX_BDPM_FILES_URL": "http://127.0.0.1:9/",
        }
    )
    return e


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return load_settings(env)


@pytest.fixture
def database(settings: Settings) -> Iterator[peewee.Database]:
    """The data database of this test, migrated to head and bound to the models."""
    from worker.runtime import prepare_home

    prepare_home(settings)
    db = open_database(settings.database_url)
    migrator.upgrade(db)
    db.connect(reuse_if_open=True)
    yield db
    db.close()


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 60, input: str | None = None
) -> subprocess.CompletedProcess:
    """Run ``mediflux ARGS`` as a real subprocess with ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        cwd=ROOT,
    )


def enqueue(env: dict[str, str], call: str, timeout: float = 60) -> None:
    """Enqueue as the app does, from its own process: ``tasks.connect().triggers.<call>`` in a subprocess."""
    done = subprocess.run(
        [sys.executable, "-c", f"import tasks; tasks.connect().triggers.{call}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr


def procfile_command(name: str) -> list[str]:
    """The argv of a Procfile line, with console scripts resolved in this interpreter's venv."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(name + ":"):
            argv = line.split(":", 1)[1].split()
            script = Path(sys.executable).parent / argv[0]
            if script.exists():
                argv[0] = str(script)
            return argv
    raise KeyError(name)


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05, message: str = "condition"):
    """Poll ``predicate`` until truthy (returns its value) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {message}")


def catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has installed a handler for ``signum`` (its ``SigCgt`` mask in /proc).

    huey's consumer sets its handlers only after it has logged its start and started its threads: a signal sent
    before that kills it with the default action, so a test that means a graceful stop waits for this first."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except FileNotFoundError:
        pass
    return False


def stop_gracefully(proc: subprocess.Popen, timeout: float = 60) -> int:
    """SIGTERM ``proc`` once it catches SIGTERM (or has exited), then wait for it: its exit code."""
    wait_for(
        lambda: proc.poll() is not None or catches(proc.pid, signal.SIGTERM), timeout=60, message="SIGTERM handler"
    )
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=timeout)
