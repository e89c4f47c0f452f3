"""Seed data for the dashboard tests: counts to compare, and personal data that must never show."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

from huey import Huey
from huey.contrib import stats as huey_stats

from models import ApiCache, ApiCacheStats, Document, JobRun, PeriodicJob, RetentionAudit, User, db
from models.clock import utcnow
from worker.config import Settings
from worker.quarantine import move_in
from worker.periodic import sync_jobs
from worker.schedule import PERIODIC_JOBS

PATIENT_NAME = "Jeanne Dupontel"
NIR = "2 84 05 75 123 456 72"
NIR_DIGITS = NIR.replace(" ", "")
PATHOLOGY = "mucoviscidose"
QUARANTINED_NAME = "carte_Dupontel_Jeanne.pdf.txt"
SECRET = "sk-live-9f8e7d6c5b4a"
PII = (
    PATIENT_NAME,
    "Dupontel",
    NIR,
    NIR_DIGITS,
    PATHOLOGY,
    QUARANTINED_NAME,
    "ordonnance_Dupontel",
    SECRET,
    "patient-4711",
)


def seed(settings: Settings, huey: Huey, now: dt.datetime | None = None) -> dict:
    """Rows and files with known counts; returns what the pages must show."""
    now = now or utcnow()
    user = User.create(user_id="patient-4711", profile={"name": PATIENT_NAME, "nir": NIR, "pathology": PATHOLOGY})
    types = ["ordonnance", "ordonnance", "carte_tiers_payant", None]
    for i, doc_type in enumerate(types):
        Document.create(
            user=user,
            original_filename=f"ordonnance_Dupontel_{i}.txt",
            sha256=f"{i:02d}" + "ab" * 31,
            format="txt",
            text=f"Patient: {PATIENT_NAME} NIR {NIR} {PATHOLOGY}",
            analysis={"document_type": doc_type, "extractor_version": 1} if doc_type else None,
            created_at=now - dt.timedelta(hours=i % 2, minutes=5),
        )
    Document.create(
        original_filename="old.txt",
        sha256="ff" * 32,
        format="txt",
        status="failed",
        created_at=now - dt.timedelta(days=3),
    )
    # Cache: bdpm 2 fresh + 1 stale, 60 reads served and 20 misses (hit ratio 0.75); annuaire 1 expired entry
    # failing, with an error whose text quotes a secret, and 3 misses (hit ratio 0).
    for i, (fresh, stale) in enumerate([(1, 2), (1, 2), (-1, 2)]):
        ApiCache.create(
            source="bdpm",
            endpoint="/medicaments",
            params_hash=f"h{i}",
            hits=10 * (i + 1),
            fetched_at=now - dt.timedelta(hours=2),
            fresh_until=now + dt.timedelta(hours=fresh),
            stale_until=now + dt.timedelta(hours=stale),
        )
    ApiCacheStats.create(source="bdpm", hits=50, stale_served=10, misses=20, upstream_calls=20)
    ApiCacheStats.create(source="annuaire", misses=3, upstream_calls=3, upstream_errors=3)
    ApiCache.create(
        source="annuaire",
        endpoint="/Practitioner",
        params_hash="x",
        hits=0,
        fetched_at=now - dt.timedelta(hours=5),
        error_count=3,
        fresh_until=now - dt.timedelta(hours=3),
        stale_until=now - dt.timedelta(hours=1),
        last_error=f"HTTPStatusError: 503 for https://upstream/?apikey={SECRET}&name=Dupontel",
        last_error_at=now - dt.timedelta(minutes=7),
    )
    # Periodic jobs: housekeeping ran twice (one failure).
    sync_jobs(PERIODIC_JOBS)
    for minutes, ok in ((40, False), (20, True)):
        started = now - dt.timedelta(minutes=minutes)
        JobRun.create(
            job="housekeeping",
            started_at=started,
            finished_at=started,
            duration_ms=100 + minutes,
            ok=ok,
            error=None if ok else "ValueError: bad row Dupontel",
            summary={},
        )
    PeriodicJob.update(
        last_started_at=now - dt.timedelta(minutes=20),
        last_duration_ms=120,
        consecutive_failures=2,
        last_error="OperationalError: Dupontel",
        next_due_at=now + dt.timedelta(minutes=5),
    ).where(PeriodicJob.name == "housekeeping").execute()
    # Quarantine (by ingestion's own function): a file whose reason message quotes its (name-bearing) filename.
    landed = settings.inbox / "patient-4711" / QUARANTINED_NAME
    landed.parent.mkdir(parents=True, exist_ok=True)
    landed.write_text(f"{PATIENT_NAME} {NIR}")
    move_in(
        str(landed),
        settings.home,
        "unreadable",
        f"{QUARANTINED_NAME} has no text layer",
        format_guess="text",
        user_id="patient-4711",
    )
    # huey stats, as the consumer writes them: 5 completed and 1 error in the last hour, 2 in flight.
    huey_stats.database.initialize(db.obj)
    db.obj.create_tables(huey_stats.MODELS, safe=True)
    t = time.time()
    events = [
        dict(
            ts=t - 60 * k - 5,
            queue=huey.name,
            task_id=str(uuid.uuid4()),
            task="tasks.analysis.analyze_documents",
            signal="complete",
            duration=0.2,
        )
        for k in range(5)
    ]
    events.append(
        dict(
            ts=t - 30,
            queue=huey.name,
            task_id=str(uuid.uuid4()),
            task="tasks.ingest.ingest_files",
            signal="error",
            duration=0.1,
            error=f"ValueError('{PATIENT_NAME}')",
        )
    )
    huey_stats.HueyEvent.insert_many(events).execute()
    for k in range(2):
        huey_stats.HueyInflight.create(task_id=str(uuid.uuid4()), queue=huey.name, task="tasks.x.y", started=t - k)
    return {
        "documents": 5,
        "by_type": {"ordonnance": 2, "carte_tiers_payant": 1, "not analysed": 2},
        "last_24h": 4,
        "bdpm": (2, 1, 0),
        "annuaire": (0, 0, 1),
        "hit_ratio": {"bdpm": 0.75, "annuaire": 0.0},
    }


def create_retention_audit(rows: int) -> None:
    """``rows`` audit rows of real prune runs (counts and cutoffs only)."""
    for i in range(rows):
        RetentionAudit.create(
            category="documents",
            cutoff=dt.datetime(2026, 1, i + 1, tzinfo=dt.timezone.utc),
            deleted_rows=10 + i,
            duration_ms=50 + i,
            started_at=dt.datetime(2026, 11, 20 + i, 3, tzinfo=dt.timezone.utc),
        )
