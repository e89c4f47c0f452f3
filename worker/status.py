"""What ``mediflux status`` reports: queue depth, rows per table, periodic jobs, schema."""

from __future__ import annotations

from typing import Any

import peewee
from huey import Huey

from models import ALL_MODELS, migrator
from worker.periodic import job_status
from worker.queue import queue_counts
from worker.schedule import PERIODIC_JOBS


def collect_status(database: peewee.Database, huey: Huey) -> dict[str, Any]:
    """A JSON-ready snapshot; contains counts and times only, never personal data."""
    with database.connection_context():
        tables = {m._meta.table_name: m.select().count() for m in ALL_MODELS}
        migrations = migrator.status(database)
        jobs = job_status(PERIODIC_JOBS)
    return {
        "queue": queue_counts(huey),
        "tables": tables,
        "periodic_jobs": jobs,
        "schema": {
            "applied": [m.name for m in migrations if m.applied],
            "pending": [m.name for m in migrations if not m.applied and m.path],
        },
    }
