"""Cache hits through the read API vs a raw sqlite3 point read + json.loads of the same payloads, in one run.

Goal: a hit costs at most 2x the raw read; hit p99 <= 1 ms while a refresh job writes (a separate
process upserting entries back to back, as the consumer's refresh job would). Two payload sizes:
one BDPM ``medicament`` (~0.8 KB of JSON) and a ``medicaments`` search of 10 results (~8 KB).
Every step reads one random entry both ways, in random order, so machine noise falls on both alike.

Run: ``python bench/cache_bench.py [--entries 500] [--reads 20000] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import migrator  # noqa: E402
from models.clock import utcnow  # noqa: E402
from models.database import open_database  # noqa: E402
from tests.upstreams.shapes import MEDICAMENTS  # noqa: E402
from worker.cache import ApiCacheClient, cache_key  # noqa: E402
from worker.cache import entries  # noqa: E402
from worker.cache.fetch import Fetched  # noqa: E402
from worker.cache.keys import normalize_params  # noqa: E402
from worker.config import load_settings  # noqa: E402

RAW_SQL = "SELECT response FROM api_cache WHERE source = ? AND endpoint = ? AND params_hash = ?"
KINDS = {"medicament": 1, "medicaments": 10}  # endpoint -> medicaments per answer


def settings(url: str):
    return load_settings({"MEDIFLUX_DATABASE_URL": url, "MEDIFLUX_BDPM_URL": "http://127.0.0.1:9"})


def payload(endpoint: str, i: int) -> dict:
    meds = []
    for j in range(KINDS[endpoint]):
        med = json.loads(json.dumps(MEDICAMENTS[(i + j) % 2]))
        med["CIS"] = f"{60000000 + i * 10 + j}"
        meds.append(med)
    return {endpoint: meds[0] if endpoint == "medicament" else meds}


def params_of(endpoint: str, n: int) -> list[dict]:
    if endpoint == "medicament":
        return [normalize_params({"CIS": f"{60000000 + i * 10}"}) for i in range(n)]
    return [normalize_params({"denomination": {"contains_one_of": [f"produit{i}"]}, "limit": 10}) for i in range(n)]


def store(client: ApiCacheClient, endpoint: str, params: list[dict], i: int) -> None:
    p = params[i % len(params)]
    entries.store(
        "bdpm",
        endpoint,
        cache_key("bdpm", endpoint, p),
        p,
        Fetched(payload(endpoint, i), 200, None, None, False),
        utcnow(),
        client.policies["bdpm"],
    )


def writer(url: str, stop_at: float, counter, n: int, rate: float) -> None:
    """The refresh job's write pattern: one upsert per refreshed entry, ``rate`` per second."""
    open_database(url)
    client = ApiCacheClient(settings(url))
    all_params = {e: params_of(e, n) for e in KINDS}
    i = 0
    start = time.time()
    while time.time() < stop_at:
        endpoint = "medicament" if i % 2 else "medicaments"
        store(client, endpoint, all_params[endpoint], i // 2)
        i += 1
        counter.value = i
        time.sleep(max(0.0, start + i / rate - time.time()))


def paired_reads(
    client: ApiCacheClient,
    conn: sqlite3.Connection,
    endpoint: str,
    params: list[dict],
    keys: list[str],
    reads: int,
    rng: random.Random,
) -> tuple[list[int], list[int]]:
    """(API ns, raw ns) for ``reads`` random entries, each read both ways in random order."""
    api, raw = [], []
    for _ in range(reads):
        i = rng.randrange(len(params))
        for way in (0, 1) if rng.random() < 0.5 else (1, 0):
            if way == 0:
                t0 = time.perf_counter_ns()
                result = client.get("bdpm", endpoint, params[i])
                api.append(time.perf_counter_ns() - t0)
                assert result.meta.status == "fresh"
            else:
                t0 = time.perf_counter_ns()
                data = json.loads(conn.execute(RAW_SQL, ("bdpm", endpoint, keys[i])).fetchone()[0])
                raw.append(time.perf_counter_ns() - t0)
                assert data
    return api, raw


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


def _share(values: list[int]) -> float:
    return sum(v > 1_000_000 for v in values) / len(values)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=500)
    ap.add_argument("--reads", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--writer-rate",
        type=float,
        default=30.0,
        help="upserts/s of the writer; 30 = the sum of the default upstream rate limits, which bound "
        "what a refresh job can write",
    )
    args = ap.parse_args()
    results: dict[tuple[str, str], list[int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrator.upgrade(open_database(url))
        client = ApiCacheClient(settings(url))
        all_params = {e: params_of(e, args.entries) for e in KINDS}
        for endpoint, params in all_params.items():
            for i in range(len(params)):
                store(client, endpoint, params, i)
        all_keys = {e: [cache_key("bdpm", e, p) for p in ps] for e, ps in all_params.items()}
        conn = sqlite3.connect(str(Path(tmp) / "bench.db"))
        rng = random.Random(7)
        ctx = multiprocessing.get_context("spawn")
        counter = ctx.Value("i", 0)
        proc = None
        for phase in ("idle", "writing"):
            if phase == "writing":
                proc = ctx.Process(
                    target=writer, args=(url, time.time() + 600, counter, args.entries, args.writer_rate)
                )
                proc.start()
                time.sleep(1.5)  # writer running
                start_count = counter.value
            for endpoint in KINDS:
                paired_reads(client, conn, endpoint, all_params[endpoint], all_keys[endpoint], 1000, rng)  # warm-up
                for _ in range(args.rounds):
                    api, raw = paired_reads(
                        client, conn, endpoint, all_params[endpoint], all_keys[endpoint], args.reads, rng
                    )
                    results.setdefault((endpoint, phase + "/api"), []).extend(api)
                    results.setdefault((endpoint, phase + "/raw"), []).extend(raw)
        upserts = counter.value - start_count
        assert proc is not None
        proc.terminate()
        proc.join()
        client.close()
    print(
        f"entries={args.entries} per payload; reads per mode={args.reads * args.rounds} (paired, random order); "
        f"writer: {args.writer_rate:g} upserts/s requested, {upserts} done during the writing phase"
    )
    print(
        "| payload | phase | raw median µs | API median µs | ratio of medians | raw p99 µs | API p99 µs "
        "| API p95 µs | > 1 ms raw / API |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for endpoint in KINDS:
        for phase in ("idle", "writing"):
            raw, api = results[(endpoint, phase + "/raw")], results[(endpoint, phase + "/api")]
            r, a = statistics.median(raw) / 1000, statistics.median(api) / 1000
            slow = f"{_share(raw):.2%} / {_share(api):.2%}"
            print(
                f"| {endpoint} | {phase} | {r:.1f} | {a:.1f} | {a / r:.2f} | {pct(raw, 0.99):.0f} "
                f"| {pct(api, 0.99):.0f} | {pct(api, 0.95):.0f} | {slow} |"
            )


if __name__ == "__main__":
    main()
