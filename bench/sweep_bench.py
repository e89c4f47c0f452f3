"""Expiry sweep under load: chunked sweep vs one plain ``DELETE ... WHERE``, in the same run.

N expired api_cache rows (JSON responses of 2–20 KB) plus fresh rows are
written to a fresh SQLite database (the project's pragmas, secure_delete on).
While each deletion runs, a reader thread does point reads of fresh rows by
their unique key and a writer probe does a one-row UPDATE every 5 ms (what the
app's cache writes look like). Reported: total time, the longest single write
transaction, reader p50/p99, writer-probe p99/max; then the baseline, a single
``DELETE FROM api_cache WHERE stale_until < ?`` over the same data.

Run: ``python bench/sweep_bench.py --rows 100000 [--chunk 500] [--secure-delete on|off]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import migrator  # noqa: E402
from models.database import open_database  # noqa: E402
from worker.retention import space, sweep  # noqa: E402
from worker.retention.chunks import DEFAULT_CHUNK  # noqa: E402
from worker.retention.policies import RetentionPolicies  # noqa: E402

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FMT = "%Y-%m-%d %H:%M:%S.%f"
FRESH = 5000
COLUMNS = (
    "source, endpoint, params_hash, params, response, status_code, etag, fetched_at, fresh_until, "
    "stale_until, hits, error_count, created_at, negative"
)


def _payload(rng: random.Random, target: int) -> str:
    """A BDPM-like answer (a list of medicines with compositions) of about ``target`` bytes."""
    items, size = [], 2
    while size < target:
        cis = str(rng.randrange(60_000_000, 69_999_999))
        item = {
            "cis": cis,
            "denomination": f"PARACETAMOL {rng.choice(['500', '1000'])} mg, comprimé",
            "forme": rng.choice(["comprimé", "gélule", "solution buvable"]),
            "voies": ["orale"],
            "statut": "Autorisation active",
            "titulaires": [rng.choice(["SANOFI", "BIOGARAN", "MYLAN", "TEVA"])],
            "compositions": [{"substance": "PARACÉTAMOL", "dosage": "500 mg", "code": rng.randrange(1000, 99999)}],
            "presentations": [
                {"cip13": "34009" + str(rng.randrange(10**7, 10**8)), "prix": round(rng.uniform(1, 9), 2)}
            ],
        }
        text = json.dumps(item, ensure_ascii=False)
        items.append(text)
        size += len(text.encode()) + 1
    return "[" + ",".join(items) + "]"


def fill(conn: sqlite3.Connection, rows: int, fresh: int, seed: int = 7) -> int:
    """Insert ``rows`` expired and ``fresh`` usable rows in big transactions; return bytes of JSON written."""
    rng = random.Random(seed)
    templates = [_payload(rng, rng.randrange(2_000, 20_000)) for _ in range(256)]
    expired, usable = (NOW - dt.timedelta(hours=1)).strftime(FMT), (NOW + dt.timedelta(days=1)).strftime(FMT)
    total = 0
    batch: list[tuple] = []
    for i in range(rows + fresh):
        body = templates[i % 256]
        total += len(body)
        stale = expired if i < rows else usable
        batch.append(
            (
                "bdpm",
                "medicaments",
                f"h{i:012d}",
                json.dumps({"cis": str(i)}),
                body,
                200,
                None,
                stale,
                stale,
                stale,
                0,
                0,
                stale,
                False,
            )
        )
        if len(batch) == 5000:
            conn.execute("BEGIN")
            conn.executemany(f"INSERT INTO api_cache ({COLUMNS}) VALUES ({', '.join('?' * 14)})", batch)
            conn.execute("COMMIT")
            batch.clear()
    if batch:
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO api_cache ({COLUMNS}) VALUES ({', '.join('?' * 14)})", batch)
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return total


class Load:
    """A point reader and a one-row writer probe on their own connections, timing every call."""

    def __init__(self, path: Path, rows: int, fresh: int) -> None:
        self.path, self.keys = path, [f"h{i:012d}" for i in range(rows, rows + fresh)]
        self.reads: list[float] = []
        self.writes: list[float] = []
        self.timeouts = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._read), threading.Thread(target=self._write)]

    def _read(self) -> None:
        conn = sqlite3.connect(str(self.path), timeout=120)
        rng = random.Random(1)
        while not self.stop.is_set():
            key = rng.choice(self.keys)
            t0 = time.perf_counter()
            row = conn.execute(
                "SELECT response FROM api_cache WHERE source = ? AND endpoint = ? AND params_hash = ?",
                ("bdpm", "medicaments", key),
            ).fetchone()
            self.reads.append((time.perf_counter() - t0) * 1000)
            assert row is not None
        conn.close()

    def _write(self) -> None:
        conn = sqlite3.connect(str(self.path), timeout=120, isolation_level=None)
        rng = random.Random(2)
        while not self.stop.is_set():
            key = rng.choice(self.keys)
            t0 = time.perf_counter()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    "UPDATE api_cache SET hits = hits + 1 WHERE source = 'bdpm' AND endpoint = 'medicaments' "
                    "AND params_hash = ?",
                    (key,),
                )
                conn.execute("COMMIT")
            except sqlite3.OperationalError:  # "database is locked" after the 120 s busy timeout
                self.timeouts += 1
            self.writes.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.005)
        conn.close()

    def __enter__(self) -> "Load":
        for t in self.threads:
            t.start()
        time.sleep(0.5)
        self.reads.clear()
        self.writes.clear()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(mode: str, path: Path, rows: int, chunk: int, secure_delete: str) -> dict:
    database = open_database(f"sqlite:///{path}")
    database.connect(reuse_if_open=True)
    database.execute_sql(f"PRAGMA secure_delete = {secure_delete}")
    with Load(path, rows, FRESH) as load:
        t0 = time.perf_counter()
        if mode == "chunked":
            summary = sweep.sweep(NOW, RetentionPolicies(), chunk=chunk, vacuum_pages=0)
            deleted, longest, p99 = summary["api_cache"], summary["longest_tx_ms"], summary["p99_tx_ms"]
        else:
            with database.atomic():
                cursor = database.execute_sql("DELETE FROM api_cache WHERE stale_until < ?", (NOW.strftime(FMT),))
                deleted = cursor.rowcount
            longest = p99 = (time.perf_counter() - t0) * 1000
        total = time.perf_counter() - t0
    assert deleted == rows, (mode, deleted)
    t1 = time.perf_counter()
    # One sweep's vacuum (2,048 pages or 1 s), measured even past the freelist bound where the sweep skips it.
    vac = space.incremental_vacuum(database, max_freelist=10**12)
    vacuum_ms = (time.perf_counter() - t1) * 1000
    database.close()
    return {
        "mode": mode,
        "rows": rows,
        "total_s": round(total, 2),
        "longest_tx_ms": round(longest, 1),
        "p99_tx_ms": round(p99, 1),
        "writer_timeouts": load.timeouts,
        "reader_n": len(load.reads),
        "reader_p50_ms": round(pct(load.reads, 0.5), 3),
        "reader_p99_ms": round(pct(load.reads, 0.99), 3),
        "writer_n": len(load.writes),
        "writer_p99_ms": round(pct(load.writes, 0.99), 2),
        "writer_max_ms": round(max(load.writes or [0]), 1),
        "vacuum_ms": round(vacuum_ms, 1),
        "vacuumed": vac["vacuumed_pages"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK)
    parser.add_argument("--secure-delete", choices=("on", "off"), default="on")
    parser.add_argument("--dir", type=Path, default=None, help="where the bench databases go (default: a temp dir)")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for mode in ("chunked", "plain"):
            path = Path(tmp) / f"{mode}.db"
            database = open_database(f"sqlite:///{path}")
            migrator.upgrade(database)
            database.close()
            conn = sqlite3.connect(str(path), isolation_level=None)
            t0 = time.perf_counter()
            written = fill(conn, args.rows, FRESH)
            conn.close()
            print(
                f"{mode}: {args.rows} expired rows + {FRESH} fresh, {written / 1e9:.2f} GB of JSON "
                f"in {time.perf_counter() - t0:.0f} s",
                file=sys.stderr,
            )
            results.append(measure(mode, path, args.rows, args.chunk, args.secure_delete))
            print(json.dumps(results[-1]), file=sys.stderr)
            path.unlink()
    chunked, plain = results
    ratios = {
        "total_time_chunked_over_plain": round(chunked["total_s"] / plain["total_s"], 2),
        "longest_tx_plain_over_chunked": round(plain["longest_tx_ms"] / chunked["longest_tx_ms"], 1),
        "reader_p99_plain_over_chunked": round(plain["reader_p99_ms"] / chunked["reader_p99_ms"], 2),
        "writer_max_plain_over_chunked": round(plain["writer_max_ms"] / chunked["writer_max_ms"], 1),
    }
    print(
        json.dumps(
            {"chunk": args.chunk, "secure_delete": args.secure_delete, "results": results, "ratios": ratios}, indent=2
        )
    )


if __name__ == "__main__":
    main()
