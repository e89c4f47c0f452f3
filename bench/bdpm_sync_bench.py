"""A full BDPM mirror sync of the reference snapshot from a local HTTP server, beside ``sqlite3 .import``.

Goal: the whole sync (download of the eight files, parse with per-row validation, load of the shadow
version, verification, swap) under 15 s, peak RSS under 250 MB, on SQLite. Each round, in random order:
one sync into a fresh SQLite database (a child process, so its peak RSS is its own: ``ru_maxrss``), and
the Debian ``sqlite3`` shell importing the same eight files into plain tables (``.mode ascii`` with tab
separators: no parsing, no validation, no index — the floor for moving those bytes into SQLite). Also one
conditional re-sync (every file answers 304). Reports medians.

Run: ``python bench/bdpm_sync_bench.py [--rounds 3]`` (needs the ``sqlite3`` command: ``apt-get install sqlite3``)
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.bdpm_data import reference_folder  # noqa: E402
from tests.bdpm_server import BdpmSite  # noqa: E402
from worker.bdpm.files import FILES  # noqa: E402

CHILD = """
import json, resource, sys, time
from models import migrator
from models.database import open_database
from worker.bdpm.sync import sync
from worker.config import load_settings
settings = load_settings({"MEDIFLUX_HOME": sys.argv[1], "MEDIFLUX_BDPM_FILES_URL": sys.argv[2]})
settings.home.mkdir(parents=True, exist_ok=True)
migrator.upgrade(open_database(settings.database_url))
out = []
for _ in range(int(sys.argv[3])):
    t = time.perf_counter()
    result = sync(settings)
    out.append({"outcome": result.outcome, "seconds": time.perf_counter() - t, "phases": result.phases})
print(json.dumps({"runs": out, "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def one_sync(url: str, work: Path) -> dict:
    home = work / f"home-{time.monotonic_ns()}"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(home), url, "2"], capture_output=True, text=True, cwd=ROOT, check=True
    )
    shutil.rmtree(home, ignore_errors=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def sqlite_import(folder: Path, work: Path) -> float:
    db = work / f"import-{time.monotonic_ns()}.db"
    script = [".mode ascii", '.separator "\\t" "\\n"']
    for spec in FILES:
        columns = ", ".join(f"c{i} TEXT" for i in range(spec.field_count + 1))  # + a trailing tab's empty field
        script += [f"CREATE TABLE {spec.key} ({columns});", f".import {folder / spec.name} {spec.key}"]
    t = time.perf_counter()
    subprocess.run(["sqlite3", str(db)], input="\n".join(script) + "\n", text=True, capture_output=True, check=True)
    seconds = time.perf_counter() - t
    db.unlink()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("sqlite3") is None:
        sys.exit("needs the sqlite3 command (Debian package sqlite3)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = reference_folder(work / "reference")
        rows = sum(len(p.read_bytes().splitlines()) for p in folder.iterdir() if p.suffix == ".txt")
        syncs: list[dict] = []
        imports: list[float] = []
        with BdpmSite.from_folder(folder) as site:
            for _ in range(args.rounds):
                steps = [
                    lambda: syncs.append(one_sync(site.url, work)),
                    lambda: imports.append(sqlite_import(folder, work)),
                ]
                random.shuffle(steps)
                for step in steps:
                    step()
    full = [s["runs"][0] for s in syncs]
    assert all(r["outcome"] == "updated" for r in full), full
    again = [s["runs"][1] for s in syncs]
    assert all(r["outcome"] == "unchanged" for r in again), again
    med = statistics.median(r["seconds"] for r in full)
    imp = statistics.median(imports)
    rss = statistics.median(s["max_rss_kb"] for s in syncs) / 1024
    phases = {k: statistics.median(r["phases"].get(k, 0.0) for r in full) for k in full[0]["phases"]}
    print(f"reference snapshot: {rows} rows in 8 files; {args.rounds} rounds, medians")
    print("| step | seconds |")
    print("|---|---|")
    print(f"| full sync (download, parse, load, verify, swap) | {med:.2f} |")
    for name, value in phases.items():
        print(f"| · {name} | {value:.2f} |")
    print(f"| conditional re-sync (8 × 304) | {statistics.median(r['seconds'] for r in again):.2f} |")
    print(f"| `sqlite3 .import` of the same files (no validation, no index) | {imp:.2f} |")
    print(f"ratio full sync / sqlite3 .import: {med / imp:.1f}×; peak RSS of the sync process: {rss:.0f} MB")


if __name__ == "__main__":
    main()
