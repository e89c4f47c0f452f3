"""What opaque ingest-task arguments cost: finding 200 files by key (an inbox walk) vs decoding 200 paths.

    python bench/ingest_keys_bench.py [--files 10000] [--users 100] [--trials 5]

An ``ingest_files`` task carries opaque keys of its files (worker/ingest/tokens.py), so the consumer walks the
inbox to find them. This measures, in one run on a temporary inbox of ``--files`` files spread over ``--users``
user folders: the old way (``decode_paths`` of 200 paths), finding 200 keys (the last files a walk reaches) with a
cold cache (the walk of the folders they name) and a warm one (a backlog's later tasks), and, for scale,
``ingest_batch`` of 200 small text files (what the task then does). Medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from models import migrator  # noqa: E402
from models.database import open_database  # noqa: E402
from worker.config import load_settings  # noqa: E402
from worker.ingest import ingest_batch, tokens  # noqa: E402
from worker.ingest.paths import decode_paths, encode_paths  # noqa: E402
from worker.ingest.scan import IgnoreRules, walk  # noqa: E402
from worker.runtime import prepare_home  # noqa: E402
from worker.triggers import NO_QUEUE  # noqa: E402


def _median_ms(fn, trials: int) -> float:
    times = []
    for _ in range(trials):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings({"MEDIFLUX_HOME": str(Path(tmp) / "home")})
        prepare_home(settings)
        for i in range(args.files):
            folder = settings.inbox / f"u-{i % args.users}"
            folder.mkdir(exist_ok=True)
            (folder / f"doc-{i}.txt").write_text(f"Ordonnance {i}\namoxicilline 1 g\n")
        order = [e.path for e in walk(settings.inbox, IgnoreRules(settings.watch_ignore))]
        last = order[-200:]
        encoded, keys = encode_paths(last), tokens.keys_of(settings, last)
        assert tokens.paths_of(settings, keys) == last
        old = _median_ms(lambda: decode_paths(encoded), args.trials)

        def cold() -> None:
            tokens._seen.clear()  # a consumer's first task of the backlog
            tokens.paths_of(settings, keys)

        new = _median_ms(cold, args.trials)
        warm = _median_ms(lambda: tokens.paths_of(settings, keys), args.trials)
        database = open_database(settings.database_url)
        migrator.upgrade(database)
        batches = [order[i : i + 200] for i in range(0, min(len(order), 200 * args.trials), 200)]
        ingest = statistics.median(_median_ms(lambda b=b: ingest_batch(b, settings, NO_QUEUE), 1) for b in batches)
        print(f"inbox: {args.files} files in {args.users} user folders; 200 files per task; medians of {args.trials}")
        print(f"decode 200 paths (old arguments):   {old:8.3f} ms")
        print(f"find 200 keys, cold (walk folders): {new:8.3f} ms")
        print(f"find 200 keys, warm (later tasks):  {warm:8.3f} ms")
        ratios = f"finding: cold {new / ingest:.0%}, warm {warm / ingest:.1%} of it"
        print(f"ingest_batch of 200 text files:     {ingest:8.3f} ms  ({ratios})")


if __name__ == "__main__":
    main()
