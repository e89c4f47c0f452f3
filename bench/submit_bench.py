"""Submissions: submit → analysed latency against a hand drop, and 1,000 concurrent ``wait_for_document`` waiters.

    python bench/submit_bench.py [--n 60] [--waiters 1000] [--pg postgresql://postgres@127.0.0.1:5432/test]
    python bench/submit_bench.py --photo [--n 20] [--hand-first]

1. **Latency** (SQLite, real Procfile ``worker`` + ``watcher``): ``--n`` canonical JSON documents, alternating
   ``DataAPI.submit_document`` and the same kind of file written by hand into ``<inbox>/<user>/`` (temp name,
   rename), each new content. Measured from the call (or the start of the hand write) until the analysis is
   committed, polling the database every 2 ms (not ``wait_for_document``, whose backoff would add its own delay).
   Reported: p50, p99 of each and the ratio of the p50s. With ``--photo``, the documents are one-page JPEG photos
   of a French prescription instead (rendered and degraded as ``bench/make_analysis_corpus.py`` does, the same
   page each time with one pixel changed so every upload is new content): they go through the OCR stage; only
   this part runs. ``--hand-first`` swaps the alternation (hand drop at even positions), to see order effects.
2. **Waiters** (SQLite and PostgreSQL, in process): ``--waiters`` submissions, one ``AsyncDataAPI.wait_for_document``
   coroutine each; then a thread makes them final in 10 batches (one UPDATE each, 0.3 s apart), recording each
   commit time. Reported: wake-up delay (waiter's return − its commit) p50/p99/max, and the process CPU time
   while waiting, per waiter per second.

Output: Markdown on stdout (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import Document, Submission, db, migrator  # noqa: E402
from models.clock import utcnow  # noqa: E402
from models.database import open_database  # noqa: E402
from worker.api import AsyncDataAPI, DataAPI  # noqa: E402
from worker.config import load_settings  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def doc(i: int, tag: str) -> bytes:
    text = (
        f"Ordonnance du 12/03/2026\nDOLIPRANE 1000 mg comprimé\n1 comprimé matin et soir ({tag} {i} {uuid.uuid4()})\n"
    )
    return json.dumps({"schema": "mediflux.ocr/1", "pages": [{"text": text}]}).encode()


def photo_source(seed: int = 11):
    """One page of a synthetic prescription, phone-photo look; returns a function giving the i-th distinct JPEG."""
    import io
    import random

    sys.path.insert(0, str(ROOT / "bench"))
    from corpus_content import BUILDERS
    from make_analysis_corpus import A4, degrade, render_page

    rng = random.Random(seed)
    pages, _ = BUILDERS["ordonnance"](rng)
    page = degrade(render_page(pages[0], "DejaVuSans", 30, A4, rng), rng, 0.4)[0]

    def nth(i: int) -> bytes:
        im = page.copy()
        im.putpixel((i % im.width, im.height - 1 - i // im.width), 0)
        out = io.BytesIO()
        im.save(out, "JPEG", quality=85)
        return out.getvalue()

    return nth


def env_for(home: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIFLUX_")}
    env.update(
        {"MEDIFLUX_HOME": str(home), "MEDIFLUX_DATABASE_URL": url, "MEDIFLUX_QUEUE_NAME": "b" + uuid.uuid4().hex[:8]}
    )
    return env


def procfile(name: str) -> list[str]:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(name + ":"):
            argv = line.split(":", 1)[1].split()
            script = Path(sys.executable).parent / argv[0]
            argv[0] = str(script) if script.exists() else argv[0]
            return argv
    raise KeyError(name)


def wait_until(predicate, timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.002)
    raise TimeoutError


def latency(n: int, photo: bool = False, hand_first: bool = False) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = env_for(home, f"sqlite:///{home / 'mediflux.db'}")
        settings = load_settings(env)
        (home / "inbox").mkdir(parents=True, exist_ok=True)
        database = open_database(settings.database_url)
        migrator.upgrade(database)
        api = DataAPI.from_settings(settings)
        procs = [
            subprocess.Popen(procfile(p), env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for p in ("worker", "watcher")
        ]
        out: dict[str, list[float]] = {"submit": [], "hand": []}
        nth = photo_source() if photo else None
        ext = ".jpg" if photo else ".json"
        try:
            warm = api.submit_document("u-w", nth(n + 1) if nth else doc(0, "warm"), "w" + ext)
            wait_until(lambda: Submission.get_by_id(warm.id).state == "analysed", 90)
            for i in range(n):
                user = f"u-{i % 5}"
                data = nth(i) if nth else doc(i, "bench")
                if i % 2 == int(hand_first):
                    t0 = time.monotonic()
                    sub = api.submit_document(user, data, f"o-{i}{ext}")
                    t1 = wait_until(
                        lambda sub=sub: (
                            Submission.select(Submission.state).where(Submission.id == sub.id).scalar() == "analysed"
                        )
                    )
                    out["submit"].append((t1 - t0) * 1000)
                else:
                    sha = hashlib.sha256(data).hexdigest()
                    folder = home / "inbox" / user
                    folder.mkdir(exist_ok=True)
                    t0 = time.monotonic()
                    tmp_path = folder / f"h-{i}.tmp"
                    with open(tmp_path, "wb") as f:
                        f.write(data)
                        f.flush()
                        os.fsync(f.fileno())
                    os.rename(tmp_path, folder / f"h-{i}{ext}")
                    t1 = wait_until(
                        lambda sha=sha: (
                            Submission.select()
                            .where((Submission.sha256 == sha) & (Submission.state == "analysed"))
                            .exists()
                            or Document.select()
                            .where((Document.sha256 == sha) & Document.analysis.is_null(False))
                            .exists()
                        )
                    )
                    out["hand"].append((t1 - t0) * 1000)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=60)
            api.close()
            db.close()
    return out


async def _waiters(settings, count: int) -> dict[str, float]:
    api = AsyncDataAPI.from_settings(settings)
    try:
        subs = [await api.submit_document(f"u-{i % 50}", doc(i, "wait"), "a.json") for i in range(count)]
        committed: dict[str, float] = {}
        woke: dict[str, float] = {}

        async def one(user: str, sid: str) -> None:
            got = await api.wait_for_document(user, sid, 120)
            assert got.final, got
            woke[sid] = time.monotonic()

        tasks = [asyncio.create_task(one(f"u-{i % 50}", s.id)) for i, s in enumerate(subs)]
        while api._waiters is None or len(api._waiters._futures) < count:  # every waiter registered
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        cpu0, wall0 = time.process_time(), time.monotonic()

        def finisher() -> None:
            ids = [s.id for s in subs]
            step = max(1, len(ids) // 10)
            for start in range(0, len(ids), step):
                batch = ids[start : start + step]
                with db.atomic():
                    Submission.update(
                        state="rejected", reason="bench", updated_at=utcnow(), finished_at=utcnow()
                    ).where(Submission.id.in_(batch)).execute()
                now = time.monotonic()
                committed.update((sid, now) for sid in batch)
                time.sleep(0.3)

        thread = threading.Thread(target=finisher)
        thread.start()
        await asyncio.gather(*tasks)
        thread.join()
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        delays = [(woke[s] - committed[s]) * 1000 for s in committed]
        return {
            "p50": statistics.median(delays),
            "p99": pct(delays, 0.99),
            "max": max(delays),
            "cpu_ms_per_waiter_s": cpu * 1000 / count / wall,
            "cpu_s": cpu,
            "wall_s": wall,
        }
    finally:
        await api.close()


def waiters(url: str, count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "inbox").mkdir(parents=True)
        settings = load_settings(env_for(home, url))
        database = open_database(settings.database_url)
        migrator.upgrade(database)
        Submission.delete().execute()
        try:
            return asyncio.run(_waiters(settings, count))
        finally:
            Submission.delete().execute()
            db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--waiters", type=int, default=1000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--photo", action="store_true", help="one-page JPEG photos through OCR; latency only")
    parser.add_argument("--hand-first", action="store_true", help="hand drops at even positions, the API at odd")
    args = parser.parse_args()
    lat = latency(args.n, args.photo, args.hand_first)
    kind = "one-page photo, " if args.photo else ""
    print("| path | n | p50 ms | p99 ms |\n|---|---|---|---|")
    for name, label in (
        ("submit", f"{kind}`submit_document` → analysed"),
        ("hand", f"{kind}hand drop (temp + rename) → analysed"),
    ):
        v = lat[name]
        print(f"| {label} | {len(v)} | {statistics.median(v):.1f} | {pct(v, 0.99):.1f} |")
    print(f"\nratio of p50s: {statistics.median(lat['submit']) / statistics.median(lat['hand']):.2f}\n")
    if args.photo:
        return
    print(
        "| backend | waiters | wake-up p50 ms | p99 ms | max ms | CPU ms per waiter per s |\n|---|---|---|---|---|---|"
    )
    schema = "b_" + uuid.uuid4().hex[:10]
    admin = open_database(args.pg, bind=False)
    admin.execute_sql(f"CREATE SCHEMA {schema}")
    try:
        for name, url in (("SQLite", None), ("PostgreSQL", f"{args.pg}?options=-csearch_path%3D{schema}")):
            with tempfile.TemporaryDirectory() as tmp:
                r = waiters(url or f"sqlite:///{Path(tmp) / 'w.db'}", args.waiters)
            print(
                f"| {name} | {args.waiters} | {r['p50']:.0f} | {r['p99']:.0f} | {r['max']:.0f} | "
                f"{r['cpu_ms_per_waiter_s']:.3f} |"
            )
    finally:
        admin.connect(reuse_if_open=True)
        admin.execute_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()


if __name__ == "__main__":
    main()
