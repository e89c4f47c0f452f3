"""Cache hits through the read API vs a raw sqlite3 point read + json.loads of the same payloads, in one run.

Goal: a hit costs at most 2x the raw read; hit p99 <= 1 ms while a refresh job writes (a separate
process upserting entries, as the consumer would). Entries are BDPM ``medicament`` answers
(~2 KB JSON each). Rounds alternate API / raw so machine noise hits both alike.

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


def payload(i: int) -> dict:
    med = json.loads(json.dumps(MEDICAMENTS[i % 2]))
    med["CIS"] = f"{60000000 + i}"
    return {"medicament": med}


def populate(url: str, n: int) -> list[dict]:
    settings = load_settings({"MEDIFLUX_DATABASE_URL": url, "MEDIFLUX_BDPM_URL": "http://127.0.0.1:9"})
    client = ApiCacheClient(settings)
    policy = client.policies["bdpm"]
    now = utcnow()
    params = [normalize_params({"CIS": f"{60000000 + i}"}) for i in range(n)]
    for i, p in enumerate(params):
        entries.store("bdpm", "medicament", cache_key("bdpm", "medicament", p), p,
                      Fetched(payload(i), 200, None, None, False), now, policy)
    client.close()
    return params


def writer(url: str, params: list[dict], stop_at: float, counter) -> None:
    """The refresh job's write pattern: one upsert per refreshed entry, back to back."""
    settings = load_settings({"MEDIFLUX_DATABASE_URL": url, "MEDIFLUX_BDPM_URL": "http://127.0.0.1:9"})
    open_database(url)
    client = ApiCacheClient(settings)
    policy = client.policies["bdpm"]
    i = 0
    while time.time() < stop_at:
        p = params[i % len(params)]
        entries.store("bdpm", "medicament", cache_key("bdpm", "medicament", p), p,
                      Fetched(payload(i), 200, None, None, False), utcnow(), policy)
        i += 1
        counter.value = i
        time.sleep(0.002)


RAW_SQL = "SELECT response FROM api_cache WHERE source = ? AND endpoint = ? AND params_hash = ?"


def paired_reads(client: ApiCacheClient, conn: sqlite3.Connection, params: list[dict], keys: list[str],
                 reads: int, rng: random.Random) -> tuple[list[int], list[int]]:
    """Each step reads one random entry both ways, in random order, so noise (other processes on the
    machine, the writer) falls on both alike. Returns (API ns, raw ns)."""
    api, raw = [], []
    for _ in range(reads):
        i = rng.randrange(len(params))
        for way in ((0, 1) if rng.random() < 0.5 else (1, 0)):
            if way == 0:
                t0 = time.perf_counter_ns()
                result = client.get("bdpm", "medicament", params[i])
                api.append(time.perf_counter_ns() - t0)
                assert result.meta.status == "fresh"
            else:
                t0 = time.perf_counter_ns()
                data = json.loads(conn.execute(RAW_SQL, ("bdpm", "medicament", keys[i])).fetchone()[0])
                raw.append(time.perf_counter_ns() - t0)
                assert data
    return api, raw


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=500)
    ap.add_argument("--reads", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        database = open_database(url)
        migrator.upgrade(database)
        params = populate(url, args.entries)
        keys = [cache_key("bdpm", "medicament", p) for p in params]
        client = ApiCacheClient(load_settings({"MEDIFLUX_DATABASE_URL": url, "MEDIFLUX_BDPM_URL": "http://127.0.0.1:9"}))
        conn = sqlite3.connect(str(Path(tmp) / "bench.db"))
        rng = random.Random(7)
        results: dict[str, list[int]] = {"api": [], "raw": [], "api_writing": [], "raw_writing": []}
        paired_reads(client, conn, params, keys, 2000, rng)  # warm-up
        for _ in range(args.rounds):
            api, raw = paired_reads(client, conn, params, keys, args.reads, rng)
            results["api"] += api
            results["raw"] += raw
        ctx = multiprocessing.get_context("spawn")
        counter = ctx.Value("i", 0)
        duration = 120.0
        proc = ctx.Process(target=writer, args=(url, params, time.time() + duration, counter))
        proc.start()
        time.sleep(1.5)  # writer started
        for _ in range(args.rounds):
            api, raw = paired_reads(client, conn, params, keys, args.reads, rng)
            results["api_writing"] += api
            results["raw_writing"] += raw
        upserts = counter.value
        proc.terminate()
        proc.join()
        client.close()
    med = {k: statistics.median(v) / 1000.0 for k, v in results.items()}
    print(f"entries={args.entries} reads/mode={args.reads * args.rounds} (paired, random order); "
          f"writer upserts during the writing rounds: {upserts}")
    print("| mode | median µs | p99 µs | ratio of medians (API / raw) |")
    print("|---|---|---|---|")
    for mode in ("raw", "api", "raw_writing", "api_writing"):
        ratio = med[mode] / med[mode.replace("api", "raw")] if mode.startswith("api") else 1.0
        print(f"| {mode} | {med[mode]:.1f} | {pct(results[mode], 0.99):.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
