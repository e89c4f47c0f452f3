"""The composition root: one :class:`Runtime` per process holds the settings, the database, the huey
instance, the triggers and the API cache, built once by :func:`bootstrap`.

Every entry point starts here: the consumer and the app through :func:`tasks.connect` (which adds the huey
tasks and their triggers), the CLI and the watcher through :mod:`worker.cli.context`, a read-only process
through ``bootstrap()`` itself. Nothing is wired at import time, and no module reads settings on its own:
what needs settings, the queue or a trigger is handed them from here (jobs through their
:class:`~worker.periodic.JobContext`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from functools import cached_property

import peewee
from huey import Huey

from models import migrator
from models.database import open_database
from worker import cache, userkeys
from worker.config import Settings, exit_on_config_error, load_settings
from worker.logsetup import configure_logging
from worker.periodic import JobSpec, sync_jobs
from worker.queue import build_huey
from worker.schedule import PERIODIC_JOBS
from worker.triggers import NO_QUEUE, Triggers

log = logging.getLogger("mediflux.runtime")
_lock = threading.Lock()
_current: Runtime | None = None


class Runtime:
    """What a process runs on. ``huey`` is built on first use (a read-only command never opens the queue);
    ``triggers`` is :data:`~worker.triggers.NO_QUEUE` until :meth:`use_triggers` (``tasks.connect``)."""

    def __init__(self, settings: Settings, database: peewee.Database, migrated: bool) -> None:
        self.settings = settings
        self.database = database
        self.migrated = migrated
        self.jobs: Mapping[str, JobSpec] = PERIODIC_JOBS
        self.triggers: Triggers = NO_QUEUE
        self._huey_lock = threading.Lock()
        cache.configure(settings, self.triggers)

    @cached_property
    def huey(self) -> Huey:
        with self._huey_lock:  # cached_property alone lets two threads build two instances
            return self.__dict__.get("huey") or build_huey(self.settings)

    def use_triggers(self, triggers: Triggers) -> None:
        """Install the queue's triggers (once, at start, by the composition root) and give the API cache
        the same ones, so stale reads enqueue their refresh."""
        self.triggers = triggers
        cache.configure(self.settings, triggers)


def prepare_home(settings: Settings) -> None:
    """Create the data folder (0700), the inbox and the user-key secret; tighten the folder if it already exists."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(settings.home, 0o700)
    settings.inbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    userkeys.ensure_secret(settings)


def bootstrap(settings: Settings | None = None, migrate: bool = True) -> Runtime:
    """Load settings (exit 2 on a bad one), open the database, apply pending migrations; the same
    :class:`Runtime` again for the same settings (cheap to call twice)."""
    global _current
    settings = settings or exit_on_config_error(load_settings)
    with _lock:
        if _current is not None and _current.settings == settings:
            if migrate and not _current.migrated:
                _migrate(_current.database)
                _current.migrated = True
            return _current
        configure_logging(settings)
        prepare_home(settings)
        database = open_database(settings.database_url)
        if migrate:
            _migrate(database)
        _current = Runtime(settings, database, migrate)
        return _current


def _migrate(database: peewee.Database) -> None:
    migrator.upgrade(database)
    with database.connection_context():
        sync_jobs(PERIODIC_JOBS)
