"""Ingestion benchmarks, in one run, side by side (report: docs/benchmarks.md).

    python bench/ingest_bench.py [--noop 3000] [--backlog 10000] [--live 500] [--rate 50]
                                 [--idle 60] [--idle-trials 3] [--rss-docs 100000] [--trials 3] [--parts abcd]

(a) raw huey no-op tasks drained by a consumer with the Procfile `worker` settings (tasks/s);
    (a) and the batched backlogs of (b) are run ``--trials`` times and reported as medians (shared machines);
(b) a backlog of real-looking OCR files (the Tesseract corpus, made unique) ingested end to end by the
    Procfile `worker` + `watcher` processes: from process start until every file is committed and gone
    from the inbox (docs/s; analysis tasks run in the same consumer meanwhile) — canonical JSON (what the
    app drops), the same with one task per file (MEDIFLUX_INGEST_BATCH=1), and the five formats mixed;
    also the consumer's CPU time per document after the first commit (steadier than rates on a busy machine);
(c) live latency, file closed (renamed into place) → row committed, at ``--rate`` files/s and for single
    files after ``--idle`` seconds of quiet, on the stack of the mixed backlog once it is analysed;
(d) consumer RSS after 1,000 documents, then every 10,000 up to ``--rss-docs`` documents (default 100,000):
    the Procfile `worker` alone, every document ingested by it (``mediflux ingest INBOX`` enqueues each
    landed step as ``ingest_files`` tasks) and analysed by it; sampled once the analysis has drained too.
Everything runs on embedded SQLite (the zero-configuration deployment) in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
from pickup_latency import procfile_args  # noqa: E402
from tests.ingest_fixtures import corpus_files, variant, write_atomically  # noqa: E402

NOOP_APP = textwrap.dedent("""
    import time
    from tasks import connect

    huey = connect().huey

    @huey.task()
    def noop(i: int, last: int, path: str) -> None:
        if i in (0, last):
            with open(path, "a") as f:
                f.write(f"{i} {time.time()}\\n")
""")


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIFLUX_")}
    env.update(
        MEDIFLUX_HOME=str(home),
        MEDIFLUX_LOG_LEVEL="warning",
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
    )
    return env


def consumer_argv(module: str) -> list[str]:
    return [str(Path(sys.executable).parent / "huey_consumer"), module, *procfile_args(), "-q"]


def bench_noop(n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "bench_app.py").write_text(NOOP_APP)
        env = base_env(tmp_path / "home") | {"PYTHONPATH": f"{tmp}:{ROOT}"}
        out = tmp_path / "stamps.txt"
        enqueue = (
            f"import sys; sys.path[:0] = [{tmp!r}]\nimport bench_app\n"
            f"for i in range({n}): bench_app.noop(i, {n - 1}, {str(out)!r})\n"
        )
        subprocess.run([sys.executable, "-c", enqueue], env=env, cwd=tmp, check=True)
        consumer = subprocess.Popen(
            consumer_argv("bench_app.huey"), env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            while not out.exists() or len(out.read_text().splitlines()) < 2:
                time.sleep(0.05)
        finally:
            consumer.terminate()
            consumer.wait(timeout=60)
        stamps = dict(line.split() for line in out.read_text().splitlines())
        return (n - 1) / (float(stamps[str(n - 1)]) - float(stamps["0"]))


class Stack:
    """The Procfile `worker` and `watcher` on one home; a data-database connection for measuring."""

    def __init__(self, home: Path, **env: str) -> None:
        self.home = home
        self.env = base_env(home) | env
        self.procs: list[subprocess.Popen] = []
        self.steady = float("nan")
        self.cpu_ms_per_doc = float("nan")
        from models import migrator
        from models.database import open_database
        from worker.config import load_settings
        from worker.runtime import prepare_home

        self.settings = load_settings(self.env)
        prepare_home(self.settings)
        self.db = open_database(self.settings.database_url)
        migrator.upgrade(self.db)

    def start(self, names: tuple[str, ...] = ("worker", "watcher")) -> None:
        for name in names:
            argv = (
                consumer_argv("tasks.huey")
                if name == "worker"
                else [str(Path(sys.executable).parent / "mediflux"), "watch"]
            )
            self.procs.append(
                subprocess.Popen(
                    argv, env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(self.home / f"{name}.log", "a")
                )
            )

    @property
    def consumer_pid(self) -> int:
        return self.procs[0].pid

    def cpu_seconds(self) -> float:
        """User + system CPU time of the consumer so far (less sensitive than rates to a noisy machine)."""
        fields = Path(f"/proc/{self.consumer_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.consumer_pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def count(self) -> int:
        from models import Document

        return Document.select().count()

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(timeout=60)


def land_backlog(inbox: Path, start: int, n: int, only: str | None = None) -> None:
    files = [f for f in corpus_files() if only is None or f.name.endswith(only)]
    old = time.time() - 300
    for i in range(start, start + n):
        src = files[i % len(files)]
        folder = inbox / f"u-{i % 50}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"doc-{i}{''.join(src.suffixes)}"
        path.write_bytes(variant(src, i))
        os.utime(path, (old, old))


def wait_count(stack: Stack, target: int, timeout: float, on_count=None) -> None:
    deadline = time.monotonic() + timeout
    while stack.count() < target:
        if on_count:
            on_count(stack.count())
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out at {stack.count()}/{target} documents")
        time.sleep(0.1)


def bench_backlog(stack: Stack, n: int, only: str | None = None) -> float:
    """Docs/s for a backlog of ``n`` files landed before the processes start."""
    land_backlog(stack.settings.inbox, 0, n, only)
    t0 = time.monotonic()
    stack.start()
    while stack.count() == 0 and time.monotonic() - t0 < 600:
        time.sleep(0.01)
    cpu0, done0 = stack.cpu_seconds(), stack.count()
    wait_count(stack, n, 1800)
    stack.cpu_ms_per_doc = (stack.cpu_seconds() - cpu0) * 1000 / max(1, n - done0)
    while any(stack.settings.inbox.rglob("doc-*")):
        time.sleep(0.05)
    rate = n / (time.monotonic() - t0)
    stack.steady = steady_rate()
    return rate


def analysed_all(stack: Stack) -> bool:
    from models import Document

    return not Document.select().where(Document.analysis.is_null()).exists()


def wait_until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.5)


def bench_rss(stack: Stack, rss_docs: int) -> list[tuple[int, float]]:
    """Consumer RSS after 1,000 documents and after every further 10,000, the consumer doing all the work."""
    stack.start(("worker",))
    samples: list[tuple[int, float]] = []
    total = 0
    while total < rss_docs:
        step = 1000 if total == 0 else min(10_000, rss_docs - total)
        land_backlog(stack.settings.inbox, total, step)
        subprocess.run(
            [str(Path(sys.executable).parent / "mediflux"), "ingest", str(stack.settings.inbox)],
            env=stack.env,
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        total += step
        wait_count(stack, total, 1800)
        wait_until(lambda: analysed_all(stack), 1800)
        time.sleep(2)
        samples.append((total, stack.rss_mb()))
        print(f"    {total:,} docs: consumer RSS {samples[-1][1]:.1f} MB", flush=True)
    return samples


def steady_rate() -> float:
    """Documents per second between the first and the last commit (process start excluded, like (a))."""
    from models import Document

    times = sorted(d.created_at.timestamp() for d in Document.select(Document.created_at))
    first = times[0]
    later = [t for t in times if t > first + 0.05]  # rows of the first batch share its commit
    return len(later) / (times[-1] - first) if later else float("nan")


def created_at_of(names: dict[str, float]) -> dict[str, float]:
    from models import Document

    out = {}
    for d in Document.select(Document.meta, Document.created_at):
        name = os.path.basename(d.meta.get("inbox_path", ""))
        if name in names:
            out[name] = d.created_at.timestamp()
    return out


def bench_live(stack: Stack, n: int, rate: float, tag: str) -> list[float]:
    files = corpus_files()
    closed: dict[str, float] = {}
    target = stack.count() + n
    for i in range(n):
        src = files[i % len(files)]
        name = f"live-{tag}-{i}{''.join(src.suffixes)}"
        write_atomically(stack.settings.inbox / name, variant(src, 10_000_000 + hash(tag) % 1000 * 1000 + i))
        closed[name] = time.time()
        time.sleep(max(0.0, 1.0 / rate - 0.0005))
    wait_count(stack, target, 120)
    committed = created_at_of(closed)
    return [(committed[k] - closed[k]) * 1000 for k in closed]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--noop", type=int, default=3000)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--live", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--idle-trials", type=int, default=3)
    parser.add_argument("--rss-docs", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=3, help="runs of (a) and of each batched backlog (medians)")
    parser.add_argument(
        "--parts",
        default="abcd",
        help="what to run: 'a', 'b' or 'c' runs (a) to (c) together (they are ratios to (a) and "
        "(c) runs on (b)'s stack); 'd' runs (d)",
    )
    args = parser.parse_args()
    if set("abc") & set(args.parts):
        backlogs(args)
    if "d" in args.parts and args.rss_docs:
        memory_growth(args)


def memory_growth(args: argparse.Namespace) -> None:
    """(d): the consumer's RSS from 1,000 to ``--rss-docs`` documents."""
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp) / "home")
        try:
            rss = bench_rss(stack, args.rss_docs)
        finally:
            stack.stop()
    print(
        "(d) consumer RSS: "
        + ", ".join(f"{mb:.1f} MB at {count:,} docs" for count, mb in rss)
        + (f" (growth {rss[-1][1] - rss[0][1]:+.1f} MB)" if len(rss) > 1 else ""),
        flush=True,
    )


def backlogs(args: argparse.Namespace) -> None:
    """(a), then (b) side by side with it, then (c) on the last mixed-format stack."""
    noops = [bench_noop(args.noop) for _ in range(args.trials)]
    noop = statistics.median(noops)
    print(
        f"(a) huey no-op tasks, Procfile consumer: median {noop:,.0f} tasks/s of {args.trials} runs "
        f"({min(noops):,.0f}–{max(noops):,.0f}; {args.noop} tasks each)",
        flush=True,
    )
    runs = (
        ("canonical JSON", ".json", {}, args.backlog, args.trials),
        ("one task per file, canonical JSON", ".json", {"MEDIFLUX_INGEST_BATCH": "1"}, args.backlog // 5, 1),
        ("five formats mixed", None, {}, args.backlog, args.trials),
    )
    for label, only, env, n, trials in runs:
        rates, steadies, cpu = [], [], []
        for trial in range(trials):
            with tempfile.TemporaryDirectory() as tmp:
                stack = Stack(Path(tmp) / "home", **env)
                try:
                    rates.append(bench_backlog(stack, n, only))
                    steadies.append(stack.steady)
                    cpu.append(stack.cpu_ms_per_doc)
                    if only is None and trial == trials - 1:  # live figures on this stack, its backlog analysed
                        wait_until(lambda: analysed_all(stack), 1800)
                        live = bench_live(stack, args.live, args.rate, "burst")
                        idle = []
                        for i in range(args.idle_trials):
                            time.sleep(args.idle)
                            idle += bench_live(stack, 1, 1.0, f"idle{i}")
                finally:
                    stack.stop()
        steady = statistics.median(steadies)
        spread = f" ({min(steadies):,.0f}–{max(steadies):,.0f})" if trials > 1 else ""
        print(
            f"(b) backlog of {n:,} files, {label}: steady {steady:,.0f} docs/s{spread} = {steady / noop:.2f} x (a); "
            f"{statistics.median(rates):,.0f} docs/s from process start; consumer CPU "
            f"{statistics.median(cpu):.3f} ms/doc after the first commit; median of {trials}",
            flush=True,
        )
    print(
        f"(c) live at {args.rate:g} files/s, n={len(live)}: p50 {statistics.median(live):.0f} ms, "
        f"p99 {pct(live, 0.99):.0f} ms, max {max(live):.0f} ms",
        flush=True,
    )
    if idle:
        print(
            f"(c) live after {args.idle:g} s idle, n={len(idle)}: p50 {statistics.median(idle):.0f} ms, "
            f"max {max(idle):.0f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
