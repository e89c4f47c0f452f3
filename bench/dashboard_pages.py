"""Dashboard page latency on a populated SQLite database, against `mediflux status` in the same run.

Seeds N documents (a quarter of them in the last 24 h), cache entries, job runs and huey stats events, then
times each page over real HTTP (server thread on 127.0.0.1) and, as the in-run baseline, one
``collect_status`` snapshot (what ``mediflux status`` computes). Medians of ``--repeat`` requests.
Run: ``python bench/dashboard_pages.py [--documents N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from huey.contrib import stats as huey_stats  # noqa: E402

from models import ApiCache, Document, JobRun, db  # noqa: E402
from models.clock import utcnow  # noqa: E402
from worker.config import load_settings  # noqa: E402
from worker.dashboard.server import DashboardApp, serve_in_thread  # noqa: E402
from worker.queue import build_huey  # noqa: E402
from worker.runtime import bootstrap  # noqa: E402
from worker.schedule import PERIODIC_JOBS  # noqa: E402
from worker.status import collect_status  # noqa: E402

PAGES = ("/", "/documents", "/cache", "/jobs", "/retention")
TYPES = ("ordonnance", "carte_tiers_payant", "feuille_de_soins", None)


def seed(documents: int, huey_name: str) -> None:
    now = utcnow()
    rows = [
        dict(
            original_filename="f",
            sha256=uuid.uuid4().hex * 2,
            format="txt",
            text="",
            analysis={"document_type": TYPES[i % 4], "extractor_version": 1} if TYPES[i % 4] else None,
            created_at=now - dt.timedelta(minutes=(i * 7) % (4 * 24 * 60)),
        )
        for i in range(documents)
    ]
    with db.atomic():
        for i in range(0, len(rows), 500):
            Document.insert_many(rows[i : i + 500]).execute()
        for i in range(documents // 10):
            ApiCache.insert(
                source=("bdpm", "annuaire", "odisse")[i % 3],
                endpoint="/e",
                params_hash=str(i),
                hits=i % 50,
                fetched_at=now - dt.timedelta(hours=1),
                fresh_until=now + dt.timedelta(minutes=(i % 7) - 3),
                stale_until=now + dt.timedelta(minutes=(i % 11) - 2),
            ).execute()
        for i in range(2000):
            started = now - dt.timedelta(minutes=15 * i)
            JobRun.insert(
                job=("housekeeping", "analysis_backlog")[i % 2],
                started_at=started,
                finished_at=started,
                duration_ms=50 + i % 40,
                ok=i % 9 != 0,
                summary={},
            ).execute()
    huey_stats.database.initialize(db.obj)
    db.obj.create_tables(huey_stats.MODELS, safe=True)
    t = time.time()
    events = [
        dict(
            ts=t - i * 1.5,
            queue=huey_name,
            task_id=str(uuid.uuid4()),
            task="tasks.analysis.analyze_documents",
            signal="complete" if i % 20 else "error",
            duration=0.1,
        )
        for i in range(2000)
    ]
    with db.atomic():
        for i in range(0, len(events), 500):
            huey_stats.HueyEvent.insert_many(events[i : i + 500]).execute()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings({"MEDIFLUX_HOME": str(Path(tmp) / "home")})
        runtime = bootstrap(settings)
        huey = build_huey(settings)
        seed(args.documents, huey.name)
        server, _ = serve_in_thread(DashboardApp(settings, runtime.database, huey))
        base = f"http://127.0.0.1:{server.server_port}"
        results: dict[str, float] = {}
        with httpx.Client(timeout=60) as client:
            for path in PAGES:
                client.get(base + path).raise_for_status()  # warm-up
        baseline = []
        timings: dict[str, list[float]] = {p: [] for p in PAGES}
        with httpx.Client(timeout=60) as client:
            for _ in range(args.repeat):  # interleaved, so noise hits every row alike
                t0 = time.perf_counter()
                with runtime.database.connection_context():
                    collect_status(runtime.database, huey, settings, PERIODIC_JOBS)
                baseline.append(time.perf_counter() - t0)
                for path in PAGES:
                    t0 = time.perf_counter()
                    client.get(base + path).raise_for_status()
                    timings[path].append(time.perf_counter() - t0)
        server.shutdown()
        base_ms = statistics.median(baseline) * 1000
        print(f"documents={args.documents} repeat={args.repeat}")
        print(f"| what | median ms | ratio to `mediflux status` |\n|---|---|---|")
        print(f"| `mediflux status` snapshot (baseline) | {base_ms:.1f} | 1.0 |")
        for path in PAGES:
            ms = statistics.median(timings[path]) * 1000
            results[path] = ms
            print(f"| page `{path}` | {ms:.1f} | {ms / base_ms:.2f} |")


if __name__ == "__main__":
    main()
