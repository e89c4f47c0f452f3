"""Name lookups on the BDPM mirror with the full reference snapshot: the name index vs a plain LIKE scan.

Loads the reference snapshot into a fresh mirror (SQLite in a temporary folder, or ``--database URL``),
then times, over the labelled prescription lines (tests/corpus/bdpm/lines.jsonl), in the same run:

- ``index``: ``worker.bdpm.lookup.search(db, line, 10)`` — one read of the version pointer + the in-memory
  name index (built once per version; its build time and memory are reported apart);
- ``like``: ``SELECT cis, denomination FROM bdpm_specialites WHERE version = ? AND denomination LIKE
  '%<first name word>%' LIMIT 10`` — what a lookup without an index does (it finds no OCR-damaged name).

Wall and thread-CPU times are both reported with the load average: on a shared machine the wall p99 is
mostly waiting for a core.

Usage: ``python bench/bdpm_lookup_bench.py [--rounds 5] [--database URL] [--json]``. Report: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bdpm_match_eval import load_lines  # noqa: E402
from models import migrator  # noqa: E402
from models.database import open_database  # noqa: E402
from tests.bdpm_data import reference_folder  # noqa: E402
from worker.bdpm import lookup, store, versions  # noqa: E402
from worker.bdpm.parse import parse_folder  # noqa: E402
from worker.bdpm.wording import read_line  # noqa: E402


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


def run(url: str, rounds: int) -> dict[str, Any]:
    database = open_database(url)
    migrator.upgrade(database)
    with tempfile.TemporaryDirectory() as tmp:
        snap = parse_folder(reference_folder(Path(tmp)))
    version = versions.begin_version(database)
    store.load(database, version, snap)
    versions.describe(database, version, store.version_counts(database, version), {})
    versions.swap(database, version)
    rss0, t0 = _rss_mb(), time.perf_counter()
    lookup.index_for(database, version)
    build = time.perf_counter() - t0
    lines = [x["line"] for x in load_lines()]
    words = [next(iter(read_line(x).name), "") for x in lines]
    sql = "SELECT cis, denomination FROM bdpm_specialites WHERE version = ? AND denomination LIKE ? LIMIT 10"
    index_t: list[float] = []
    like_t: list[float] = []
    index_cpu: list[float] = []
    like_cpu: list[float] = []
    like_found = index_found = 0
    for _ in range(rounds):
        for line, word in zip(lines, words, strict=True):
            t, c = time.perf_counter(), time.thread_time()
            found = lookup.search(database, line, 10)
            index_t.append(time.perf_counter() - t)
            index_cpu.append(time.thread_time() - c)
            index_found += bool(found)
            t, c = time.perf_counter(), time.thread_time()
            rows = store.execute(database, sql, (version, f"%{re.sub('[%_]', '', word)}%")).fetchall()
            like_t.append(time.perf_counter() - t)
            like_cpu.append(time.thread_time() - c)
            like_found += bool(rows)
    n = len(lines) * rounds
    index, like = _percentiles(index_t), _percentiles(like_t)
    index["cpu"], like["cpu"] = _percentiles(index_cpu), _percentiles(like_cpu)
    return {
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "backend": url.split(":", 1)[0],
        "specialities": len(snap.records("CIS_bdpm.txt")),
        "lookups": n,
        "index_build_s": round(build, 2),
        "index_rss_mb": round(_rss_mb() - rss0, 1),
        "index": {**index, "with_candidates": round(index_found / n, 3)},
        "like": {**like, "with_rows": round(like_found / n, 3)},
        "p99_ratio_like_over_index": round(like["p99_ms"] / index["p99_ms"], 2) if index["p99_ms"] else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", help="a fresh database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.database or f"sqlite:///{tmp}/bench.db", args.rounds)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(
        f"{result['backend']}: {result['specialities']} specialities, {result['lookups']} lookups; "
        f"index built in {result['index_build_s']} s (+{result['index_rss_mb']} MB RSS)"
    )
    for kind in ("index", "like"):
        r = result[kind]
        cpu = r["cpu"]
        print(
            f"  {kind:5}  wall p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  max {r['max_ms']:.3f} ms"
            f" | thread CPU p50 {cpu['p50_ms']:.3f} ms  p99 {cpu['p99_ms']:.3f} ms"
        )
    print(f"  LIKE p99 / index p99 = {result['p99_ratio_like_over_index']} (load average {result['load_average_1m']})")


if __name__ == "__main__":
    main()
