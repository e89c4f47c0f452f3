"""Evaluate worker.analysis on the stored OCR corpus: per-type accuracy, per-field precision/recall/F1.

    python bench/analysis_eval.py [--corpus tests/corpus/analysis] [--json] [--errors]
    python bench/analysis_eval.py --corpus var/image-corpus --compare [--jobs 2]

The corpus (bench/make_analysis_corpus.py) holds real Tesseract output in the five ingestion formats; files are
read by the ingestion parsers (worker.ingest), so the evaluation sees the pages exactly as they are stored.
An image corpus (bench/make_image_corpus.py) holds uploads (photos, scans, PDFs): they are read by the OCR
stage (worker.ocr, the same child, Tesseract settings and hOCR parser as the worker); ``--baseline`` scores the
same documents dropped as Tesseract hOCR instead, ``--compare`` both, side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import unicodedata
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from worker.analysis import analyze_text  # noqa: E402
from worker.config import load_settings  # noqa: E402
from worker.ingest.parse import parse_document  # noqa: E402
from worker.ocr.sniff import media_kind  # noqa: E402
from worker.ocr.stage import ocr_bytes  # noqa: E402

CORPUS = ROOT / "tests" / "corpus" / "analysis"
GOALS = {
    "type_accuracy": 0.95,
    "rpps": 0.90,
    "dates": 0.90,
    "amounts": 0.90,
    "amc_number": 0.90,
    "medication_names": 0.90,
}


# ---- reading: the ingestion parsers (worker.ingest), NIRs masked as when stored ------------------------
_OCR_SETTINGS: list[Any] = []


def _ocr_settings() -> Any:
    if not _OCR_SETTINGS:
        import tempfile

        home = tempfile.mkdtemp(prefix="mediflux-eval-")
        _OCR_SETTINGS.append(
            load_settings(
                {"MEDIFLUX_HOME": home} | {k: v for k, v in os.environ.items() if k.startswith("MEDIFLUX_OCR")}
            )
        )
    return _OCR_SETTINGS[0]


def read_document(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    data = path.read_bytes()
    # an upload (image, PDF) goes through the OCR stage, anything else through the ingestion parsers
    doc = ocr_bytes(data, _ocr_settings()) if media_kind(data[:1024]) else parse_document(data, path.name)
    return [p.as_dict() for p in doc.pages], doc.document_type_hint


# ---- scoring ------------------------------------------------------------------------------------------
def norm(value: Any) -> str:
    text = unicodedata.normalize("NFD", str(value))
    return re.sub(r"[^A-Z0-9%]", "", "".join(c for c in text if not unicodedata.combining(c)).upper())


def name_ok(pred: str, truth: str) -> bool:
    """Person name: every full word read belongs to the true name (initials and order ignored)."""
    t = {norm(w) for w in re.split(r"[\s\-]+", truth)}
    words = [norm(w) for w in re.split(r"[\s\-]+", pred) if len(w.rstrip(".")) > 1]
    return bool(words) and all(w in t for w in words)


def _value(field: Any) -> Any:
    return field.get("value") if isinstance(field, dict) else None


class Counts:
    def __init__(self) -> None:
        self.tp = self.fp = self.fn = 0

    def add(self, preds: list[Any], truths: list[Any], same=lambda a, b: norm(a) == norm(b)) -> None:
        left = list(truths)
        for p in preds:
            hit = next((t for t in left if same(p, t)), None)
            if hit is not None:
                left.remove(hit)
                self.tp += 1
            else:
                self.fp += 1
        self.fn += len(left)

    def prf(self) -> tuple[float, float, float]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)


SCALARS = {
    "rpps": ["rpps"],
    "dates": ["prescription_date", "care_date", "valid_from", "valid_to"],
    "amc_number": ["amc_number"],
    "adherent_number": ["adherent_number"],
    "insurer": ["insurer"],
    "renewals": ["renewals"],
}


def score_document(analysis: dict[str, Any], truth: dict[str, Any], counts: dict[str, Counts]) -> None:
    fields, tf = analysis["fields"], truth["fields"]
    for metric, keys in SCALARS.items():
        for key in keys:
            p, t = _value(fields.get(key)), tf.get(key)
            if key == "renewals" and truth["type"] != "ordonnance":
                continue
            counts[metric].add(
                [p] if p not in (None, "") else [],
                [t] if t not in (None, "") else [],
                (lambda a, b: norm(a).replace(" ", "") in norm(b))
                if key == "insurer"
                else (lambda a, b: norm(a) == norm(b)),
            )
    amounts_p = [_value(a["amount"]) for a in fields.get("acts") or []]
    amounts_t = [a["amount"] for a in tf.get("acts") or []]
    if _value(fields.get("total_amount")) is not None:
        amounts_p.append(_value(fields["total_amount"]))
    if tf.get("total_amount") is not None:
        amounts_t.append(tf["total_amount"])
    counts["amounts"].add(amounts_p, amounts_t, lambda a, b: abs(float(a) - float(b)) < 0.005)
    counts["acts"].add(
        [(_value(a["code"]), _value(a["amount"])) for a in fields.get("acts") or []],
        [(a["code"], a["amount"]) for a in tf.get("acts") or []],
        lambda a, b: a[0] is not None and norm(a[0]) == norm(b[0]) and abs(a[1] - b[1]) < 0.005,
    )
    counts["medication_names"].add(
        [_value(m["name"]) for m in fields.get("medications") or []], [m["name"] for m in tf.get("medications") or []]
    )
    counts["medication_strengths"].add(
        [(_value(m["name"]), _value(m["strength"])) for m in fields.get("medications") or []],
        [(m["name"], m["strength"]) for m in tf.get("medications") or []],
        lambda a, b: norm(a[0]) == norm(b[0]) and norm(a[1]).replace("UG", "µG") == norm(b[1]).replace("UG", "µG"),
    )
    cov_p = list((_value(fields.get("coverage")) or {}).items())
    counts["coverage"].add(
        cov_p, list((tf.get("coverage") or {}).items()), lambda a, b: a[0] == b[0] and norm(a[1]) == norm(b[1])
    )
    for key in ("prescriber_name", "practitioner_name"):
        p, t = _value(fields.get(key)), tf.get(key)
        counts["practitioner_names"].add([p] if p else [], [t] if t else [], name_ok)
    counts["beneficiaries"].add(
        [_value(b) for b in fields.get("beneficiaries") or []], tf.get("beneficiaries") or [], name_ok
    )
    counts["nir_presence"].add(["nir"] if analysis["nir"]["present"] else [], ["nir"] if truth.get("nir") else [])


def evaluate(corpus: Path = CORPUS, file_key: str = "file", jobs: int = 1) -> dict[str, Any]:
    labels = json.loads((corpus / "labels.json").read_text())
    counts: dict[str, Counts] = defaultdict(Counts)
    by_type: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_format: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    errors = []
    items = sorted(labels.items())
    with ThreadPoolExecutor(jobs) as pool:  # OCR runs in child processes: threads are enough
        read = list(pool.map(lambda item: read_document(corpus / item[1][file_key]), items))
    for (doc_id, truth), (pages, hint) in zip(items, read):
        analysis = analyze_text(pages, hint=hint)
        ok = analysis["document_type"] == truth["type"]
        for bucket in (by_type[truth["type"]], by_format[truth["format"]]):
            bucket[0] += ok
            bucket[1] += 1
        if not ok:
            errors.append({"id": doc_id, "truth": truth["type"], "predicted": analysis["document_type"]})
        before = {k: (c.tp, c.fp, c.fn) for k, c in counts.items()}
        score_document(analysis, truth, counts)
        missed = [k for k, c in counts.items() if (c.fp, c.fn) != before.get(k, (0, 0, 0))[1:]]
        if missed:
            errors.append({"id": doc_id, "fields": missed})
    total = sum(v[1] for v in by_type.values())
    result = {
        "documents": total,
        "type_accuracy": sum(v[0] for v in by_type.values()) / total,
        "per_type": {t: {"correct": c, "total": n, "accuracy": c / n} for t, (c, n) in sorted(by_type.items())},
        "per_format": {f: {"correct": c, "total": n, "accuracy": c / n} for f, (c, n) in sorted(by_format.items())},
        "fields": {
            k: dict(zip(("precision", "recall", "f1"), c.prf()), tp=c.tp, fp=c.fp, fn=c.fn)
            for k, c in sorted(counts.items())
        },
        "errors": errors,
    }
    result["goals"] = {
        k: {"goal": g, "value": result["type_accuracy"] if k == "type_accuracy" else result["fields"][k]["f1"]}
        for k, g in GOALS.items()
    }
    return result


def markdown(result: dict[str, Any]) -> str:
    out = [
        f"Documents: {result['documents']}; document-type accuracy: **{result['type_accuracy']:.3f}**",
        "",
        "| type | correct / total | accuracy |",
        "|---|---|---|",
    ]
    out += [f"| {t} | {v['correct']} / {v['total']} | {v['accuracy']:.3f} |" for t, v in result["per_type"].items()]
    out += ["", "| input format | type correct / total |", "|---|---|"]
    out += [f"| {f} | {v['correct']} / {v['total']} |" for f, v in result["per_format"].items()]
    out += ["", "| field | precision | recall | F1 | TP | FP | FN | goal |", "|---|---|---|---|---|---|---|---|"]
    for k, v in result["fields"].items():
        goal = f"≥ {GOALS[k]:.2f}" if k in GOALS else ""
        out.append(
            f"| {k} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['tp']} | {v['fp']} | "
            f"{v['fn']} | {goal} |"
        )
    return "\n".join(out)


def compare(corpus: Path, jobs: int, as_json: bool) -> None:
    """The uploads (OCR stage) and the same documents as Tesseract hOCR: type accuracy and key-field F1."""
    images, hocr = evaluate(corpus, "file", jobs), evaluate(corpus, "hocr_file", jobs)
    keys = ["type_accuracy", *[k for k in GOALS if k != "type_accuracy"]]

    def value(result: dict[str, Any], key: str) -> float:
        return result["type_accuracy"] if key == "type_accuracy" else result["fields"][key]["f1"]

    rows = {k: {"images": value(images, k), "hocr": value(hocr, k), "goal": GOALS[k]} for k in keys}
    if as_json:
        print(json.dumps({"metrics": rows, "per_format": images["per_format"], "errors": images["errors"]}, indent=2))
        return
    print(f"Documents: {images['documents']}\n")
    print("| metric | uploads (OCR stage) | same documents as hOCR | difference | goal |\n|---|---|---|---|---|")
    for k, r in rows.items():
        print(f"| {k} | {r['images']:.3f} | {r['hocr']:.3f} | {r['images'] - r['hocr']:+.3f} | ≥ {r['goal']:.2f} |")
    print("\n| upload variant | type correct / total |\n|---|---|")
    for f, v in images["per_format"].items():
        print(f"| {f} | {v['correct']} / {v['total']} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(CORPUS))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--errors", action="store_true", help="list the documents with a wrong type or field")
    ap.add_argument("--baseline", action="store_true", help="image corpus: score the hOCR of the same documents")
    ap.add_argument("--compare", action="store_true", help="image corpus: uploads and hOCR baseline side by side")
    ap.add_argument("--jobs", type=int, default=2, help="documents read at once (OCR child processes)")
    args = ap.parse_args()
    if args.compare:
        compare(Path(args.corpus), args.jobs, args.json)
        return
    result = evaluate(Path(args.corpus), "hocr_file" if args.baseline else "file", args.jobs)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(markdown(result))
    if args.errors:
        for e in result["errors"]:
            print(e)


if __name__ == "__main__":
    main()
