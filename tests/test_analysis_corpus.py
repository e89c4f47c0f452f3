"""The evaluation on the stored real-Tesseract corpus must meet the issue's goals (no Tesseract needed here)."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "analysis"


def _load_eval():
    spec = importlib.util.spec_from_file_location("analysis_eval", ROOT / "bench" / "analysis_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def evaluation():
    return _load_eval()


@pytest.fixture(scope="module")
def result(evaluation):
    return evaluation.evaluate(CORPUS)


def test_corpus_covers_every_type_in_every_ingestion_format():
    labels = json.loads((CORPUS / "labels.json").read_text())
    assert 60 <= len(labels) <= 150
    pairs = Counter((v["type"], v["format"]) for v in labels.values())
    for doc_type in ("ordonnance", "carte_tiers_payant", "feuille_de_soins", "compte_rendu"):
        for fmt in ("json", "hocr", "tsv", "alto", "txt"):
            assert pairs[(doc_type, fmt)] >= 3, (doc_type, fmt)
    for truth in labels.values():
        assert (CORPUS / truth["file"]).exists()
    assert sum(p.stat().st_size for p in CORPUS.iterdir()) < 5_000_000


def test_evaluation_meets_the_goals(result, evaluation):
    for name, goal in result["goals"].items():
        assert goal["value"] >= goal["goal"], f"{name}: {goal['value']:.3f} < {goal['goal']}"
    assert result["documents"] == len(json.loads((CORPUS / "labels.json").read_text()))


def test_scoring_penalises_wrong_and_missing_values(evaluation):
    """The scorer itself can fail: a wrong RPPS is a false positive and a false negative."""
    counts = {k: evaluation.Counts() for k in ("x",)}
    counts["x"].add(["10003456789"], ["10003456788"])
    assert counts["x"].prf() == (0.0, 0.0, 0.0)
    c = evaluation.Counts()
    c.add([], ["DOLIPRANE"])
    c.add(["Doliprâne"], ["DOLIPRANE"])
    assert (c.tp, c.fp, c.fn) == (1, 0, 1)


def test_readers_give_the_same_text_for_every_format(evaluation, tmp_path):
    """hOCR, TSV and ALTO readers keep words and line breaks of the Tesseract output."""
    for name in ("ordo-002.hocr", "ordo-003.tsv", "ordo-004.alto.xml"):
        pages, hint = evaluation.read_document(CORPUS / name)
        assert hint is None and len(pages) >= 1
        assert "\n" in pages[0]["text"] and len(pages[0]["text"]) > 100
