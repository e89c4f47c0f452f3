"""Async data API: throughput and latency of profile reads and session inserts, pool vs no pool, SQLite vs PostgreSQL.

    python bench/app_api_bench.py [--repeat 3] [--ops 400] [--pg postgresql://postgres@127.0.0.1:5432/test]

For each backend (a fresh SQLite file; a fresh schema in the PostgreSQL database,
dropped at the end) the same AsyncDataAPI runs ``get_profile`` (random user of
1,000) and ``log_query`` at 1, 10 and 100 concurrent coroutines, on:

- ``pool``: the pwasyncio pool the app uses (MEDIFLUX_DB_POOL_SIZE, default 10);
- ``pool, no write queue`` (SQLite inserts only): the pool without the API's in-process
  write queue, so concurrent writers wait in SQLite's busy handler — the baseline for that queue;
- ``no pool``: the same database class but a fresh connection per call, closed
  after it (connect-per-request; on PostgreSQL capped at 40 open connections so the
  shared server's max_connections=100 is never hit).

Each cell runs ``--ops`` calls (a third of them at concurrency 1) ``--repeat``
times; the table shows the median of the runs' throughput, p50 and p99 latency.
Output: a Markdown table on stdout (docs/benchmarks.md) and JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
from playhouse.pwasyncio import (
    AsyncPostgresqlConnection,
    AsyncPostgresqlDatabase,
    AsyncSqliteDatabase,  # noqa: E402
    AsyncSqlitePool,
)

from models import migrator  # noqa: E402
from models.database import open_database  # noqa: E402
from models.pools import PoolConfig, open_async_database  # noqa: E402
from worker.api import AsyncDataAPI, DataAPI  # noqa: E402
from worker.appdata.backend import Backend  # noqa: E402
from worker.config import load_settings  # noqa: E402

USERS = 1000
CONCURRENCY = (1, 10, 100)


class NoPoolSqlite(AsyncSqliteDatabase):
    """A new aiosqlite connection (with the same pragmas) per call, closed after it."""

    async def _create_pool_async(self):
        return AsyncSqlitePool(
            self.database, pool_size=0, on_connect=self._add_conn_hooks, timeout=self._timeout, **self.connect_params
        )

    async def _pool_acquire(self, pool):
        return await pool._create_connection()

    async def _pool_release(self, conn):
        await conn.close()

    async def _pool_close(self):
        pass


class NoPoolPostgres(AsyncPostgresqlDatabase):
    """A new asyncpg connection per call, closed after it (at most 40 open at once)."""

    async def _create_pool_async(self):
        return asyncio.Semaphore(40)

    async def _pool_acquire(self, pool):
        await pool.acquire()
        try:
            conn = await asyncpg.connect(database=self.database, **self.connect_params)
            await self.register_adapters(conn)
        except BaseException:
            pool.release()
            raise
        return AsyncPostgresqlConnection(conn)

    async def _pool_release(self, conn):
        try:
            await conn.conn.close()
        finally:
            self._pool.release()

    async def _pool_close(self):
        pass


def unpooled(pooled):
    cls = NoPoolPostgres if isinstance(pooled, AsyncPostgresqlDatabase) else NoPoolSqlite
    kwargs = dict(pooled.connect_params)
    if cls is NoPoolSqlite:
        kwargs.update(pragmas=pooled._pragmas, timeout=pooled._timeout, lock_type=pooled._lock_type)
    return cls(pooled.database, **kwargs)


async def cell(api: AsyncDataAPI, op: str, concurrency: int, ops: int) -> dict:
    latencies: list[float] = []
    per = max(1, ops // concurrency)
    rng = random.Random(concurrency)

    async def worker(w: int) -> None:
        for i in range(per):
            user = f"b{rng.randrange(USERS)}"
            t0 = time.perf_counter()
            if op == "read":
                await api.get_profile(user)
            else:
                await api.log_query(user, f"question {w}-{i}", "reimbursement", {"w": w, "i": i})
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    wall = time.perf_counter() - t0
    latencies.sort()
    return {
        "ops_s": len(latencies) / wall,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    }


async def run_backend(url: str, settings, repeat: int, ops: int) -> list[dict]:
    """Every mode measured in turn within each repeat and cell, so machine load drifts hit all modes alike."""
    config = PoolConfig(size=settings.db_pool_size, acquire_timeout=60)
    pooled = open_async_database(url, config)
    modes = [("pool", pooled), ("no pool", unpooled(pooled))]
    if not url.startswith("postgres"):
        modes.append(("pool, no write queue", open_async_database(url, config)))
    apis = {}
    for mode, database in modes:
        apis[mode] = AsyncDataAPI(Backend(database, settings.api_max_json_kb * 1024))
        if mode == "pool, no write queue":
            apis[mode]._write_lock = None  # baseline: SQLite writers wait in its busy handler instead of in-process
        await apis[mode].get_profile("b0")  # warm-up: opens the pool
    runs: dict[tuple, list[dict]] = {}
    for _ in range(repeat):
        for op in ("read", "insert"):
            for c in CONCURRENCY:
                for mode, api in apis.items():
                    if op == "read" and mode == "pool, no write queue":
                        continue
                    runs.setdefault((mode, op, c), []).append(await cell(api, op, c, ops // 3 if c == 1 else ops))
    for api in apis.values():
        await api.close()
    return [
        {"mode": mode, "op": op, "concurrency": c, **{k: statistics.median(r[k] for r in rs) for k in rs[0]}}
        for (mode, op, c), rs in runs.items()
    ]


def prepare(url: str, home: Path):
    settings = load_settings({"MEDIFLUX_HOME": str(home), "MEDIFLUX_DATABASE_URL": url})
    database = open_database(url)
    migrator.upgrade(database)
    api = DataAPI.from_settings(settings)
    for i in range(USERS):
        api.create_profile(
            f"b{i}",
            {
                "mutuelle": "MGEN",
                "pathology": "asthme",
                "location": {"department": "75"},
                "preferences": {"lang": "fr", "notifications": True},
            },
        )
    api.close()
    database.close()
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ops", type=int, default=400)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="app-api-bench-"))
    schema = "bench_" + uuid.uuid4().hex[:10]
    admin = open_database(args.pg, bind=False)
    admin.execute_sql(f"CREATE SCHEMA {schema}")
    results = {}
    t0 = time.monotonic()
    try:
        for name, url in (
            ("SQLite", f"sqlite:///{home / 'bench.db'}"),
            ("PostgreSQL", f"{args.pg}?options=-csearch_path%3D{schema}"),
        ):
            settings = prepare(url, home)
            results[name] = asyncio.run(run_backend(url, settings, args.repeat, args.ops))
    finally:
        admin.connect(reuse_if_open=True)
        admin.execute_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()
    print(table(results))
    print(f"\n(total {time.monotonic() - t0:.0f} s)", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def table(results: dict) -> str:
    lines = [
        "| backend | op | coroutines | pool ops/s | pool p50 ms | pool p99 ms | no-pool ops/s | no-pool p99 ms "
        "| pool ÷ no-pool (ops/s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for backend, rows in results.items():
        index = {(r["mode"], r["op"], r["concurrency"]): r for r in rows}
        for op in ("read", "insert"):
            for c in CONCURRENCY:
                p, n = index[("pool", op, c)], index[("no pool", op, c)]
                lines.append(
                    f"| {backend} | {op} | {c} | {p['ops_s']:,.0f} | {p['p50_ms']:.2f} | {p['p99_ms']:.1f} "
                    f"| {n['ops_s']:,.0f} | {n['p99_ms']:.1f} | {p['ops_s'] / n['ops_s']:.1f}× |"
                )
    baseline = {
        (r["op"], r["concurrency"]): r for r in results.get("SQLite", []) if r["mode"] == "pool, no write queue"
    }
    if baseline:
        lines += [
            "",
            "| SQLite inserts, pool | coroutines | ops/s | p50 ms | p99 ms | ops/s ÷ without write queue "
            "| p99 without write queue |",
            "|---|---|---|---|---|---|---|",
        ]
        index = {(r["mode"], r["op"], r["concurrency"]): r for r in results["SQLite"]}
        for c in CONCURRENCY:
            p, b = index[("pool", "insert", c)], baseline[("insert", c)]
            lines.append(
                f"| with write queue | {c} | {p['ops_s']:,.0f} | {p['p50_ms']:.2f} | {p['p99_ms']:.1f} "
                f"| {p['ops_s'] / b['ops_s']:.1f}× | {b['p99_ms']:.1f} ms |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
