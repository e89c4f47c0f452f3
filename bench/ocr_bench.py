"""Speed of the OCR stage against raw ``tesseract`` on the same pages with the same settings, in one run.

    python bench/ocr_bench.py [--pages 8] [--photos 7] [--pdf-pages 40] [--pdf-dpi 150] [--drops 20]

1. Throughput: the same one-page photos (A4 at 200 dpi, rendered like the evaluation corpus) through the raw
   CLI, one process per core (``tesseract`` with the stage's own command line), then through the stage: a real
   ``huey_consumer`` (the Procfile's) OCRing them from the inbox after ``mediflux ingest``; pages per second.
2. Upload to analysed row: one photo at a time written into the inbox with the watcher and the consumer
   running, until its row has its analysis; p50 / p99 against raw ``tesseract`` on that page, the two
   interleaved photo by photo (raw, then the upload).
3. Dropped OCR results (hOCR, ingested inline by the watcher) while a long scanned PDF is being OCRed:
   drop-to-row latency p50 / p99, and the same with nothing being OCRed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from corpus_content import BUILDERS
from make_analysis_corpus import A4, degrade, render_page
from make_image_corpus import INSTALLED

from worker.ocr import tesseract
from worker.ocr.child import NICENESS

ROOT = Path(__file__).resolve().parent.parent
CORES = os.cpu_count() or 1


def pages(count: int, seed: int) -> list:
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        doc_type = rng.choice(["ordonnance", "feuille_de_soins", "compte_rendu", "carte_tiers_payant"])
        lines = BUILDERS[doc_type](rng)[0][0]
        out.append(degrade(render_page(lines, rng.choice(INSTALLED), rng.randint(26, 36), A4, rng), rng, 0.4)[0])
    return out


def jpeg(im) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85, dpi=(200, 200))
    return buf.getvalue()


def raw_tesseract(path: Path, langs: str = "fra", nice: int = 0) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        ["nice", "-n", str(nice), *tesseract.command(str(path), langs, None)],
        check=True,
        capture_output=True,
        env=tesseract.environment(str(path.parent)),
    )
    return time.perf_counter() - t0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Stack:
    """The Procfile's worker and watcher on a private home, and a database handle to watch rows."""

    def __init__(self, home: Path, extra: dict[str, str]) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIFLUX_")}
        self.env |= {"MEDIFLUX_HOME": str(home), "MEDIFLUX_LOG_LEVEL": "warning", "PYTHONPATH": str(ROOT)} | extra
        self.home, self.procs = home, []
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("MEDIFLUX_")})
        from worker.runtime import bootstrap

        bootstrap()

    def start(self, name: str) -> None:
        line = next(ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith(name + ":"))
        argv = shlex.split(line.split(":", 1)[1])
        argv[0] = str(Path(sys.executable).parent / argv[0])
        log = open(self.home / f"{name}.log", "a")  # noqa: SIM115 — closed with the process
        self.procs.append(subprocess.Popen(argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))

    def cli(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "worker.cli", *args],
            env=self.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(timeout=60)


def wait(predicate, timeout: float, step: float = 0.01) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.perf_counter()
        time.sleep(step)
    raise TimeoutError("benchmark step did not finish in time")


def land(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _stage_run(paths: list[Path], home: Path) -> float:
    """The stage's steady state: a warm-up page first (the consumer has started, run its start-up jobs and OCRed
    once), then the clock runs from handing the pages over (``mediflux ingest``, a process of its own) to the
    last row stored."""
    stack = Stack(home, {"MEDIFLUX_OCR_PROCESSES": str(CORES), "MEDIFLUX_BDPM_FILES_URL": "http://127.0.0.1:9/"})
    from models import Document

    try:
        stack.start("worker")
        land(stack.home / "inbox" / "u-0" / "warm-up.jpg", paths[0].read_bytes())
        stack.cli("ingest", str(stack.home / "inbox"))
        wait(lambda: Document.select().count() == 1, 120)
        for i, p in enumerate(paths):
            land(stack.home / "inbox" / "u-1" / f"scan-{i}.jpg", p.read_bytes())
        t0 = time.perf_counter()
        stack.cli("ingest", str(stack.home / "inbox"))
        t1 = wait(lambda: Document.select().count() == 1 + len(paths), 60 * len(paths))
    finally:
        stack.stop()
    return t1 - t0


def _raw_run(paths: list[Path], nice: int) -> tuple[float, list[float]]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(CORES) as pool:
        per_page = list(pool.map(lambda p: raw_tesseract(p, nice=nice), paths))
    return time.perf_counter() - t0, per_page


def throughput(images: list, tmp: Path, rounds: int) -> dict:
    """Raw CLI (nice 0), raw CLI at the child's nice level, then the stage, ``rounds`` times in turn: on a
    shared machine each round's ratio compares runs seconds apart; the medians are reported."""
    folder = tmp / "raw"
    folder.mkdir()
    paths = []
    for i, im in enumerate(images):
        paths.append(folder / f"p{i}.jpg")
        paths[-1].write_bytes(jpeg(im))
    raw, raw_nice, stage, per_page = [], [], [], []
    for r in range(rounds):
        wall, pages_s = _raw_run(paths, 0)
        raw.append(wall)
        per_page += pages_s
        raw_nice.append(_raw_run(paths, NICENESS)[0])
        stage.append(_stage_run(paths, tmp / f"stage-home-{r}"))
        print(
            json.dumps({"round": r, "raw_s": raw[-1], "raw_nice_s": raw_nice[-1], "stage_s": stage[-1]}),
            file=sys.stderr,
        )
    n = len(paths)
    return {
        "pages": n,
        "rounds": rounds,
        "raw_pages_per_s": n / statistics.median(raw),
        "raw_nice10_pages_per_s": n / statistics.median(raw_nice),
        "stage_pages_per_s": n / statistics.median(stage),
        "ratio_median": statistics.median(r / s for r, s in zip(raw, stage)),
        "ratio_vs_nice10_median": statistics.median(r / s for r, s in zip(raw_nice, stage)),
        "raw_page_p50_s": statistics.median(per_page),
    }


def upload_latency(image, count: int, tmp: Path) -> dict:
    """Raw ``tesseract`` on the page, then the same page uploaded through the stage, photo by photo: on a shared
    machine each pair is measured seconds apart, under the same load (the stack is running, idle, for both)."""
    page = tmp / "photo.jpg"
    page.write_bytes(jpeg(image))
    stack = Stack(tmp / "latency-home", {"MEDIFLUX_OCR_PROCESSES": str(CORES)})
    from models import Document

    raw, found = [], []
    try:
        stack.start("worker")
        stack.start("watcher")
        time.sleep(3)  # both up (the watcher's lease, the consumer's first poll)
        for i in range(count):
            raw.append(raw_tesseract(page))
            data = bytearray(page.read_bytes())
            data[-3] = i % 256  # a distinct upload each time (its own SHA-256), same pixels to OCR
            t0 = time.perf_counter()
            land(stack.home / "inbox" / "u-1" / f"photo-{i}.jpg", bytes(data))
            t1 = wait(lambda n=i + 1: Document.select().where(Document.analysis.is_null(False)).count() == n, 300)
            found.append(t1 - t0)
            print(json.dumps({"photo": i, "raw_s": raw[-1], "upload_to_analysed_s": found[-1]}), file=sys.stderr)
    finally:
        stack.stop()
    return {
        "photos": count,
        "raw_p50_s": statistics.median(raw),
        "raw_p99_s": pct(raw, 0.99),
        "upload_to_analysed_p50_s": statistics.median(found),
        "upload_to_analysed_p99_s": pct(found, 0.99),
        "ratio_p50": statistics.median(found) / statistics.median(raw),
        "ratio_median_of_pairs": statistics.median(f / r for f, r in zip(found, raw)),
    }


def hocr_drops(count: int, seed: int) -> list[bytes]:
    corpus = ROOT / "tests" / "corpus" / "analysis"
    files = sorted(corpus.glob("*.hocr"))
    rng = random.Random(seed)
    out = []
    for i in range(count):
        text = rng.choice(files).read_text()
        out.append(text.replace("</body>", f"<!-- drop {seed}-{i} --></body>").encode())
    return out


def live_during_pdf(images: list, pdf_pages: int, pdf_dpi: int, drops: int, tmp: Path) -> dict:
    buf = io.BytesIO()
    scans = [images[i % len(images)] for i in range(pdf_pages)]
    scans[0].save(buf, "PDF", resolution=200, save_all=True, append_images=scans[1:])
    stack = Stack(tmp / "live-home", {"MEDIFLUX_OCR_DPI": str(pdf_dpi), "MEDIFLUX_OCR_PROCESSES": str(CORES)})
    from models import Document

    def measure(label: str, seed: int) -> list[float]:
        out: list[float] = []
        for data in hocr_drops(drops if seed else 2, seed):
            before = Document.select().count()
            t0 = time.perf_counter()
            land(stack.home / "inbox" / "u-2" / f"{label}-{len(out)}.hocr", data)
            out.append(wait(lambda b=before: Document.select().count() > b, 60, 0.002) - t0)
            time.sleep(0.2)
        return out

    try:
        stack.start("worker")
        stack.start("watcher")
        time.sleep(3)
        measure("warmup", 0)  # the watcher's first scan, connections, imports: not counted
        idle = measure("idle", 1)
        landed = time.perf_counter()
        land(stack.home / "inbox" / "u-1" / "long-scan.pdf", buf.getvalue())
        tmp_jobs = stack.home / "ocr" / "tmp"
        wait(lambda: tmp_jobs.is_dir() and any(p.is_dir() for p in tmp_jobs.iterdir()), 120)
        busy = measure("busy", 2)
        still_ocring = any(p.is_dir() for p in tmp_jobs.iterdir())
        t1 = wait(lambda: Document.select().where(Document.format == "pdf").count() == 1, 60 * pdf_pages)
    finally:
        stack.stop()
    return {
        "pdf_pages": pdf_pages,
        "pdf_dpi": pdf_dpi,
        "drops": drops,
        "idle_p50_ms": 1000 * statistics.median(idle),
        "idle_p99_ms": 1000 * pct(idle, 0.99),
        "during_ocr_p50_ms": 1000 * statistics.median(busy),
        "during_ocr_p99_ms": 1000 * pct(busy, 0.99),
        "pdf_still_ocring_after_drops": still_ocring,
        "pdf_landed_to_stored_s": round(t1 - landed, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=8)
    ap.add_argument("--photos", type=int, default=7)
    ap.add_argument("--pdf-pages", type=int, default=40)
    ap.add_argument("--pdf-dpi", type=int, default=150)
    ap.add_argument("--drops", type=int, default=20)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", choices=["throughput", "latency", "live"], action="append")
    args = ap.parse_args()
    only = set(args.only or ["throughput", "latency", "live"])
    images = pages(args.pages, args.seed)
    result = {
        "cores": CORES,
        "tesseract": tesseract.version(),
        "command": " ".join(tesseract.command("PAGE", "fra", None)[1:]),
    }
    with tempfile.TemporaryDirectory() as tmp:
        if "throughput" in only:
            (Path(tmp) / "t").mkdir()
            result["throughput"] = throughput(images, Path(tmp) / "t", args.rounds)
            print(json.dumps(result["throughput"]), file=sys.stderr)
        if "latency" in only:
            (Path(tmp) / "l").mkdir()
            result["latency"] = upload_latency(images[0], args.photos, Path(tmp) / "l")
            print(json.dumps(result["latency"]), file=sys.stderr)
        if "live" in only:
            (Path(tmp) / "v").mkdir()
            result["live"] = live_during_pdf(images, args.pdf_pages, args.pdf_dpi, args.drops, Path(tmp) / "v")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
