"""Parse throughput of the OCR formats, this tree against a baseline tree, paired (report: docs/benchmarks.md).

    python bench/parse_bench.py [--baseline /work/main] [--tree .] [--rounds 7] [--repeat 20]

    python bench/parse_bench.py --same-process [--baseline /work/main] [--rounds 120]

(``--tree`` the same as ``--baseline`` is an A/A run: the spread it shows is the machine's noise.)
``--same-process`` loads the baseline's ``hocr.py``, ``alto.py`` and ``tsv.py`` beside this tree's in one
process and alternates them on the same texts (parsers only, best of 3 passes per round): no process-to-process
noise, so it is the finer comparison on a shared machine; it reports the median and quartiles of new/old speed.

Each round runs one child process per tree, alternating which goes first, and each child parses every file of
the OCR corpus (tests/corpus/analysis: real Tesseract hOCR, ALTO and TSV) ``--repeat`` times through
``worker.ingest.parse.parse_document`` (decode, sniff, parse, NIR masking), timing each pass in CPU time and
keeping its fastest pass (the least disturbed by the other processes of a shared machine). It reports the median
files/s per format and per tree over the rounds and the median of the per-round ratios this/baseline (> 1 is
faster). The child of this tree also
parses the corpus hOCR re-serialised as HTML (unclosed ``<meta>``, ``<br>``, no XML declaration, named
entities), the path taken only by hOCR that is not XML, and reports its rate beside the XML path's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "analysis"
FORMATS = {"hocr": ".hocr", "alto": ".alto.xml", "tsv": ".tsv"}


def child(repeat: int, html: bool) -> None:
    """Runs in the tree under test (PYTHONPATH): ``worker`` is that tree's."""
    from worker.ingest.parse import parse_document

    if html:  # only this tree's child: its fixtures, its parser
        sys.path.insert(0, str(ROOT))
        from tests.ingest_fixtures import as_html

    rates: dict[str, float] = {}
    for fmt, suffix in FORMATS.items():
        files = [(p.name, p.read_bytes()) for p in sorted(CORPUS.iterdir()) if p.name.endswith(suffix)]
        if fmt == "hocr" and html:
            files = [(name, as_html(data.decode()).encode()) for name, data in files]
        for name, data in files:  # warm up (imports, regex compilation)
            parse_document(data, name)
        passes = []
        for _ in range(repeat):
            t0 = time.process_time()
            for name, data in files:
                parse_document(data, name)
            passes.append(time.process_time() - t0)
        rates[fmt] = len(files) / min(passes)
    print(json.dumps(rates))


def same_process(baseline: Path, rounds: int) -> None:
    import importlib.util

    sys.path.insert(0, str(ROOT))
    from worker.ingest import alto, hocr, tsv

    def old(module: str):  # the baseline's module, importing the shared helpers (parsed, xmlsafe) from here
        spec = importlib.util.spec_from_file_location(f"baseline_{module}", baseline / "worker/ingest" / f"{module}.py")
        assert spec and spec.loader
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return getattr(loaded, f"parse_{module}")

    pairs = {
        "hocr": (old("hocr"), hocr.parse_hocr),
        "alto": (old("alto"), alto.parse_alto),
        "tsv": (old("tsv"), tsv.parse_tsv),
    }
    print(f"new speed / old speed, same process, {rounds} alternating rounds (best of 3 passes each)")
    for fmt, (before, after) in pairs.items():
        texts = [p.read_text(encoding="utf-8") for p in sorted(CORPUS.iterdir()) if p.name.endswith(FORMATS[fmt])]
        ratios = []
        for i in range(rounds):
            best: dict[str, float] = {}
            for name, parse in (("old", before), ("new", after)) if i % 2 else (("new", after), ("old", before)):
                passes = []
                for _ in range(3):
                    t0 = time.process_time()
                    for text in texts:
                        parse(text)
                    passes.append(time.process_time() - t0)
                best[name] = min(passes)
            ratios.append(best["old"] / best["new"])
        q1, median, q3 = statistics.quantiles(ratios, n=4)
        print(f"{fmt:6} median {median:.3f}  quartiles {q1:.3f} – {q3:.3f}")


def run_child(tree: Path, repeat: int, html: bool = False) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", "--repeat", str(repeat)]
    out = subprocess.run(argv + (["--html"] if html else []), env=env, cwd=ROOT, check=True, capture_output=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, default=Path("/work/main"))
    parser.add_argument("--tree", type=Path, default=ROOT, help="the tree under test (default: this one)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--same-process", action="store_true", help="parsers of both trees in one process")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--html", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.repeat, args.html)
        return
    if args.same_process:
        same_process(args.baseline, args.rounds)
        return
    runs: dict[str, list[dict[str, float]]] = {"baseline": [], "this": [], "html": []}
    for i in range(args.rounds):
        order = [("baseline", args.baseline), ("this", args.tree)]
        for name, tree in order if i % 2 == 0 else order[::-1]:
            runs[name].append(run_child(tree, args.repeat))
        runs["html"].append(run_child(ROOT, args.repeat, html=True))
    print(f"files/s of CPU time, median of {args.rounds} paired rounds (best of {args.repeat} passes per round)")
    print(f"{'format':8} {'baseline':>10} {'this':>10} {'this/base':>10}")
    for fmt in FORMATS:
        base = statistics.median(r[fmt] for r in runs["baseline"])
        this = statistics.median(r[fmt] for r in runs["this"])
        ratios = statistics.median(t[fmt] / b[fmt] for t, b in zip(runs["this"], runs["baseline"]))
        print(f"{fmt:8} {base:10.0f} {this:10.0f} {ratios:10.3f}")
    html = statistics.median(r["hocr"] for r in runs["html"])
    xml = statistics.median(r["hocr"] for r in runs["this"])
    print(f"hOCR as HTML (this tree): {html:.0f} files/s, {html / xml:.2f} x its XML path")


if __name__ == "__main__":
    main()
