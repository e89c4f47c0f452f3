"""Matching quality of the BDPM name index on the labelled prescription lines (tests/corpus/bdpm/lines.jsonl).

Reports, overall and per kind of line (corpus OCR, brand, substance, negative):
- top-1 accuracy: the first candidate is one of the line's acceptable CIS (goal ≥ 0.95);
- matched: top-1 right *and* at or above the threshold (what the analysis stores as ``matched``);
- wrong above threshold: the first candidate is not acceptable yet scores at or above the threshold, over
  all lines, negatives included (goal ≤ 1 %).

The index is built from the reference snapshot (``tests/bdpm_reference.py``), or from a synced mirror with
``--database URL``. Usage: ``python bench/bdpm_match_eval.py [--lines PATH] [--threshold T] [--errors] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.bdpm.match import THRESHOLD, NameIndex  # noqa: E402

LINES = ROOT / "tests/corpus/bdpm/lines.jsonl"
GOALS = {"top1": 0.95, "wrong_above_threshold": 0.01}


def load_lines(path: Path = LINES) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def reference_index() -> NameIndex:
    from tests import bdpm_reference

    return NameIndex(bdpm_reference.index_rows())


def evaluate(index: NameIndex, lines: list[dict[str, Any]], threshold: float = THRESHOLD) -> dict[str, Any]:
    """Scores of ``index`` on ``lines`` (see the module docstring); ``errors`` lists every miss."""
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    errors = []
    for item in lines:
        found = index.search(item["line"], limit=5)
        top = found[0] if found else None
        ok = top is not None and top.cis in item["acceptable"]
        above = top is not None and top.score >= threshold
        for kind in (item["kind"], "all"):
            c = per[kind]
            c["lines"] += 1
            c["positives"] += bool(item["acceptable"])
            c["top1"] += ok
            c["matched"] += ok and above
            c["wrong_above"] += above and not ok
        if not (ok and above) and (item["acceptable"] or above):
            errors.append(
                {
                    "line": item["line"],
                    "kind": item["kind"],
                    "got": None if top is None else [top.cis, top.score, top.denomination],
                    "want": item["acceptable"][:3],
                    "wrong_above": above and not ok,
                }
            )
    report = {}
    for kind, c in sorted(per.items()):
        pos = c["positives"] or 1
        report[kind] = {
            "lines": c["lines"],
            "positives": c["positives"],
            "top1": round(c["top1"] / pos, 4),
            "matched": round(c["matched"] / pos, 4),
            "wrong_above_threshold": round(c["wrong_above"] / c["lines"], 4),
        }
    return {"threshold": threshold, "kinds": report, "errors": errors}


def markdown(result: dict[str, Any]) -> str:
    rows = [
        "| lines | n | top-1 | matched (≥ threshold) | wrong above threshold |",
        "|---|---|---|---|---|",
    ]
    for kind, r in result["kinds"].items():
        wrong = r["wrong_above_threshold"] * 100
        rows.append(f"| {kind} | {r['lines']} | {r['top1']:.3f} | {r['matched']:.3f} | {wrong:.1f} % |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=Path, default=LINES)
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    parser.add_argument("--database", help="build the index from this synced mirror (a database URL), not the snapshot")
    parser.add_argument("--errors", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.database:
        from worker.bdpm.lookup import index_for_database

        index = index_for_database(args.database)
    else:
        index = reference_index()
    result = evaluate(index, load_lines(args.lines), args.threshold)
    if args.json:
        print(json.dumps(result if args.errors else {k: v for k, v in result.items() if k != "errors"}, indent=1))
        return
    print(f"threshold {result['threshold']}; goals: top-1 ≥ {GOALS['top1']}, wrong above ≤ 1 %")
    print(markdown(result))
    if args.errors:
        for e in result["errors"]:
            print(json.dumps(e, ensure_ascii=False))


if __name__ == "__main__":
    main()
