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

``--access-log`` (paired mode): the cost of the access log instead. The same profile reads (async at 1,
10 and 100 coroutines, and the sync API in one thread) run on APIs that differ only by their trail:
``no log`` (none), ``log, buffered`` (the default: traces inserted together every
MEDIFLUX_ACCESS_FLUSH_SECONDS) and ``log, each read`` (interval 0: the trace inserted before the read
returns), interleaved within each repeat; inserts (never traced) run with and without the buffered log to
show the flush's contention with writers. The table gives each mode's median and its ratio to ``no log``;
at the end every trace is counted (none may be lost by the clean close).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
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

from models import AccessLog, migrator  # noqa: E402
from models.database import open_database  # noqa: E402
from models.pools import PoolConfig, open_async_database, open_pooled_database  # noqa: E402
from worker.access.trail import AccessTrail  # noqa: E402
from worker.api import AsyncDataAPI, DataAPI, pool_config  # noqa: E402
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


ACCESS_MODES = (("no log", None), ("log, buffered", "default"), ("log, each read", 0.0))


def _trail(settings, interval, lock=None):
    if interval is None:
        return None
    if interval != "default":
        settings = dataclasses.replace(settings, access_flush_seconds=interval)
    return AccessTrail.open(settings, lock=lock)


def _stats(latencies: list[float]) -> dict:
    latencies = sorted(latencies)
    return {
        "mean_ms": 1000 * statistics.fmean(latencies),
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    }


async def interleaved_reads(apis: dict, n: int) -> dict[str, dict]:
    """One coroutine: each user's profile read through every mode in turn (rotating who goes first), so a
    load spike on the shared machine hits all modes alike; per-call latency per mode."""
    rng = random.Random(7)
    latencies: dict[str, list[float]] = {mode: [] for mode in apis}
    modes = list(apis)
    for i in range(n):
        user = f"b{rng.randrange(USERS)}"
        for mode in modes[i % len(modes) :] + modes[: i % len(modes)]:
            t0 = time.perf_counter()
            await apis[mode].get_profile(user)
            latencies[mode].append(time.perf_counter() - t0)
    return {mode: _stats(values) for mode, values in latencies.items()}


def interleaved_sync_reads(apis: dict, n: int) -> dict[str, dict]:
    """The same with the sync API, in one thread."""
    rng = random.Random(8)
    latencies: dict[str, list[float]] = {mode: [] for mode in apis}
    modes = list(apis)
    for i in range(n):
        user = f"b{rng.randrange(USERS)}"
        for mode in modes[i % len(modes) :] + modes[: i % len(modes)]:
            t0 = time.perf_counter()
            apis[mode].get_profile(user)
            latencies[mode].append(time.perf_counter() - t0)
    return {mode: _stats(values) for mode, values in latencies.items()}


async def run_access_paired(url: str, settings, repeat: int, ops: int) -> list[dict]:
    """Profile reads with and without the access log, interleaved (in alternating order) within every repeat.

    Each cell's ratio to ``no log`` is taken per repeat (the two ran back to back, under the same load), then
    its median over the repeats is reported with the medians of throughput and latency.
    """
    config = PoolConfig(size=settings.db_pool_size, acquire_timeout=60)
    apis, syncs = {}, {}
    for mode, interval in ACCESS_MODES:
        apis[mode] = AsyncDataAPI(Backend(open_async_database(url, config), settings.api_max_json_kb * 1024))
        apis[mode].trail = _trail(settings, interval)
        syncs[mode] = DataAPI(
            Backend(open_pooled_database(url, pool_config(settings)), settings.api_max_json_kb * 1024)
        )
        syncs[mode].trail = _trail(settings, interval, syncs[mode]._write_lock)
        await apis[mode].get_profile("b0")  # warm-up: opens the pool (and the trail's thread)
        syncs[mode].get_profile("b0")
    traced = 2 * (len(ACCESS_MODES) - 1)
    per_call: dict[str, dict[str, list[dict]]] = {"read, interleaved per call": {}, "sync read, interleaved": {}}
    cells = [("read", c) for c in CONCURRENCY[1:]] + [("insert", c) for c in CONCURRENCY]
    runs: dict[tuple, list[dict]] = {}
    for r in range(repeat):
        for name, results in (
            ("read, interleaved per call", await interleaved_reads(apis, ops // 3)),
            ("sync read, interleaved", await asyncio.to_thread(interleaved_sync_reads, syncs, ops // 3)),
        ):
            for mode, stats in results.items():
                per_call[name].setdefault(mode, []).append(stats)
        traced += 2 * (len(ACCESS_MODES) - 1) * (ops // 3)
        order = list(apis) if r % 2 == 0 else list(reversed(apis))
        for op, c in cells:
            for mode in order:
                if op == "insert" and mode == "log, each read":
                    continue  # inserts are never traced: the buffered mode alone shows the flush's contention
                runs.setdefault((mode, op, c), []).append(await cell(apis[mode], op, c, ops))
                if op == "read" and apis[mode].trail is not None:
                    traced += max(1, ops // c) * c  # what cell() runs
    for mode in apis:
        await apis[mode].close()
        syncs[mode].close()  # the clean close: every buffered trace is written here
    database = open_database(url)
    with database.connection_context():
        written = AccessLog.select().count()
    print(f"traces written: {written} of {traced} reads traced", file=sys.stderr)
    if written != traced:
        raise SystemExit(f"lost traces: {traced - written}")
    out = [trace_cost(url, settings)]
    for name, by_mode in per_call.items():
        base = by_mode["no log"]
        for mode, rs in by_mode.items():
            row = {"mode": mode, "op": name, "concurrency": 1}
            row |= {k: statistics.median(r[k] for r in rs) for k in rs[0]}
            row["p50_ratio"] = statistics.median(m["p50_ms"] / b["p50_ms"] for b, m in zip(base, rs))
            row["mean_ratio"] = statistics.median(m["mean_ms"] / b["mean_ms"] for b, m in zip(base, rs))
            out.append(row)
    for (mode, op, c), rs in runs.items():
        base = runs[("no log", op, c)]
        row = {"mode": mode, "op": op, "concurrency": c, **{k: statistics.median(r[k] for r in rs) for k in rs[0]}}
        row["time_ratio"] = statistics.median(b["ops_s"] / m["ops_s"] for b, m in zip(base, rs))
        out.append(row)
    return out


def trace_cost(url: str, settings, n: int = 20_000) -> dict:
    """CPU per trace, without the read: queueing it (key, row; on the caller's thread) and inserting it (flush
    thread), medians of 5 rounds of ``n`` traces."""
    trail = AccessTrail.open(dataclasses.replace(settings, access_flush_seconds=3600))
    who = trail.defaults
    record, insert = [], []
    for _ in range(5):
        t0 = time.process_time()
        for i in range(n):
            trail.record((f"b{i % USERS}",), "profile", who)
        t1 = time.process_time()
        trail.flush()
        record.append((t1 - t0) / n * 1e6)
        insert.append((time.process_time() - t1) / n * 1e6)
    trail.close()
    return {
        "mode": "cost",
        "op": "trace",
        "concurrency": 0,
        "record_us": statistics.median(record),
        "insert_us": statistics.median(insert),
    }


def access_table(results: dict) -> str:
    costs = {backend: next(r for r in rows if r["mode"] == "cost") for backend, rows in results.items()}
    lines = [
        "CPU per trace (no read): "
        + "; ".join(f"{b} queue {c['record_us']:.1f} µs + insert {c['insert_us']:.1f} µs" for b, c in costs.items()),
        "",
    ]
    lines += [
        "| backend | profile read | no log p50 / mean ms | buffered log p50 / mean ms | ÷ no log (p50, mean) "
        "| log each read p50 / mean ms | ÷ no log (p50, mean) |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend, rows in results.items():
        index = {(r["mode"], r["op"], r["concurrency"]): r for r in rows}
        for op in ("read, interleaved per call", "sync read, interleaved"):
            b, m, e = (index[(mode, op, 1)] for mode, _ in ACCESS_MODES)
            lines.append(
                f"| {backend} | {'async, 1 coroutine' if op.startswith('read') else 'sync, 1 thread'} "
                f"| {b['p50_ms']:.3f} / {b['mean_ms']:.3f} | {m['p50_ms']:.3f} / {m['mean_ms']:.3f} "
                f"| **{m['p50_ratio']:.2f}×**, {m['mean_ratio']:.2f}× | {e['p50_ms']:.3f} / {e['mean_ms']:.3f} "
                f"| {e['p50_ratio']:.2f}×, {e['mean_ratio']:.2f}× |"
            )
    lines += [
        "",
        "| backend | op | coroutines | no log ops/s | p50 ms | buffered log ops/s | p50 ms | p99 ms "
        "| time per call ÷ no log | log each read ops/s | time per call ÷ no log |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for backend, rows in results.items():
        index = {(r["mode"], r["op"], r["concurrency"]): r for r in rows}
        for op, c in [("read", c) for c in CONCURRENCY[1:]] + [("insert", c) for c in CONCURRENCY]:
            base, buf = index[("no log", op, c)], index[("log, buffered", op, c)]
            each = index.get(("log, each read", op, c))
            tail = f"| {each['ops_s']:,.0f} | {each['time_ratio']:.2f}× |" if each else "| – | – |"
            lines.append(
                f"| {backend} | {op} | {c} | {base['ops_s']:,.0f} | {base['p50_ms']:.2f} | {buf['ops_s']:,.0f} "
                f"| {buf['p50_ms']:.2f} | {buf['p99_ms']:.1f} | {buf['time_ratio']:.2f}× " + tail
            )
    return "\n".join(lines)


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
    parser.add_argument("--access-log", action="store_true", help="paired mode: profile reads with and without it")
    parser.add_argument("--only", choices=("SQLite", "PostgreSQL"), help="run one backend only")
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
            if args.only and name != args.only:
                continue
            settings = prepare(url, home)
            run = run_access_paired if args.access_log else run_backend
            results[name] = asyncio.run(run(url, settings, args.repeat, args.ops))
    finally:
        admin.connect(reuse_if_open=True)
        admin.execute_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()
    print(access_table(results) if args.access_log else table(results))
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
