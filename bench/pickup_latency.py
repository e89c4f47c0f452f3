"""Idle pickup latency of the Procfile consumer vs huey's default polling, in one run.

After the consumer has been idle long enough for its polling to back off fully, a task is enqueued and the time
until it starts is measured. Run: ``python bench/pickup_latency.py [--trials N] [--idle SECONDS]``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

APP = textwrap.dedent("""
    import time
    from tasks import connect

    huey = connect().huey

    @huey.task()
    def stamp(path: str, sent: float) -> None:
        with open(path, "a") as f:
            f.write(f"{time.time() - sent}\\n")
""")


def procfile_args() -> list[str]:
    line = next(l for l in (ROOT / "Procfile").read_text().splitlines() if l.startswith("worker:"))
    return shlex.split(line.split(":", 1)[1])[2:]  # drop "huey_consumer tasks.huey"


def measure(label: str, consumer_args: list[str], trials: int, idle: float) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "bench_app.py").write_text(APP)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIFLUX_")}
        env.update(MEDIFLUX_HOME=str(tmp_path / "home"), PYTHONPATH=f"{tmp}:{ROOT}", MEDIFLUX_LOG_LEVEL="warning")
        consumer = subprocess.Popen(
            [str(Path(sys.executable).parent / "huey_consumer"), "bench_app.huey", *consumer_args, "-q"],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        out = tmp_path / "latency.txt"
        try:
            enqueue = (
                f"import sys, time; sys.path[:0] = [{tmp!r}]\n"
                f"import bench_app\n"
                f"for _ in range({trials}):\n"
                f"    time.sleep({idle}); bench_app.stamp({str(out)!r}, time.time())\n"
            )
            subprocess.run([sys.executable, "-c", enqueue], env=env, cwd=tmp, check=True)
            deadline = time.time() + 30
            while time.time() < deadline and (not out.exists() or len(out.read_text().split()) < trials):
                time.sleep(0.1)
        finally:
            consumer.terminate()
            consumer.wait(timeout=60)
        values = [float(v) * 1000 for v in out.read_text().split()]
    print(f"{label:<28} n={len(values):<3} median={statistics.median(values):7.0f} ms  max={max(values):7.0f} ms")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--idle", type=float, default=12.0, help="idle seconds before each task")
    args = parser.parse_args()
    ours = measure("Procfile settings", procfile_args(), args.trials, args.idle)
    default = measure("huey defaults (-w 4 -k thread)", ["-w", "4", "-k", "thread"], args.trials, args.idle)
    print(f"ratio of medians (default / Procfile): {statistics.median(default) / statistics.median(ours):.1f}x")


if __name__ == "__main__":
    main()
