"""What ``mediflux status`` reports: queue depth, rows per table, periodic jobs, cache health, processes, schema.

The operator state itself (queue, jobs, cache, processes) comes from :mod:`worker.opstate`, as on the dashboard,
in the doctor and in the metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import peewee
from huey import Huey

from models import ALL_MODELS, migrator
from worker import opstate
from worker.cache.keys import SOURCES
from worker.config import Settings


def collect_status(
    database: peewee.Database, huey: Huey, settings: Settings, specs: Mapping[str, opstate.JobSpecLike]
) -> dict[str, Any]:
    """A JSON-ready snapshot; contains counts and times only, never personal data."""
    with database.connection_context():
        tables = {m._meta.table_name: m.select().count() for m in ALL_MODELS}
        migrations = migrator.status(database)
        jobs = opstate.periodic_jobs(specs)
        cache = opstate.cache_health(SOURCES)
        processes = opstate.processes(settings)
        webhooks = opstate.webhook_deliveries()
    return {
        "queue": opstate.queue_state(huey),
        "tables": tables,
        "periodic_jobs": jobs,
        "cache": cache,
        "processes": processes,
        "webhooks": webhooks,
        "schema": {
            "applied": [m.name for m in migrations if m.applied],
            "pending": [m.name for m in migrations if not m.applied and m.path],
        },
    }
