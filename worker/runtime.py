"""Process start-up shared by every entry point: settings, data folder, database, migrations.

The consumer (``import tasks``), the watcher and the CLI call :func:`bootstrap`;
the app calls it once at start too (or imports ``tasks``, which does). It is
idempotent per settings, so calling it again is cheap.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

import peewee

from models import migrator
from models.database import open_database
from worker.config import Settings, exit_on_config_error, load_settings
from worker.logsetup import configure_logging
from worker.periodic import sync_jobs
from worker.schedule import PERIODIC_JOBS

log = logging.getLogger("mediflux.runtime")
_lock = threading.Lock()
_current: Runtime | None = None


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    database: peewee.Database
    migrated: bool


def prepare_home(settings: Settings) -> None:
    """Create the data folder (0700) and the inbox; tighten the folder if it already exists."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(settings.home, 0o700)
    settings.inbox.mkdir(parents=True, exist_ok=True, mode=0o700)


def bootstrap(settings: Settings | None = None, migrate: bool = True) -> Runtime:
    """Load settings (exit 2 on a bad one), open the database, apply pending migrations."""
    global _current
    settings = settings or exit_on_config_error(load_settings)
    with _lock:
        if _current is not None and _current.settings == settings and (_current.migrated or not migrate):
            return _current
        configure_logging(settings)
        prepare_home(settings)
        database = open_database(settings.database_url)
        if migrate:
            migrator.upgrade(database)
            with database.connection_context():
                sync_jobs(PERIODIC_JOBS)
        _current = Runtime(settings, database, migrate)
        return _current
