"""The NIR detector on its generated corpus (bench/nir_eval.py): recall 1.0 on ≥ 300 valid NIRs in every layout,
no mask on near-misses nor on the analysis corpus's RPPS, AMC, adherent and phone numbers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def nir_eval():
    spec = importlib.util.spec_from_file_location("nir_eval", ROOT / "bench" / "nir_eval.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def result(nir_eval):
    return nir_eval.evaluate(baseline_rev=None)


def test_corpus_is_large_and_covers_every_layout(nir_eval, result):
    cases, _ = nir_eval.nir_cases()
    assert result["nir_occurrences"] >= 300
    assert {c.layout for c in cases} == set(nir_eval.LAYOUTS)
    assert result["near_misses"] >= 200 and result["near_miss_kinds"] >= 20
    bodies = {c.body for c in cases}
    assert any(b[5:7] in ("2A", "2B") for b in bodies) and any(b[5:7] in ("97", "98") for b in bodies)
    assert any(b[5:7] == "99" for b in bodies) and any(int(b[3:5]) > 12 for b in bodies)


def test_recall_is_one(result):
    assert result["recall"] == 1.0, (result["missed_by_layout"], result["missed_examples"])


def test_no_false_mask(result):
    assert result["near_misses_masked"] == 0, result["near_miss_examples"]
    corpus = result["analysis_corpus"]
    assert corpus["false_masks_total"] == 0, corpus["false_masks"]
    assert corpus["protected_numbers"]["rpps"] >= 30 and corpus["protected_numbers"]["phone"] >= 20
    assert corpus["other_masks"] == 0
    assert corpus["labelled_nirs_masked"] == corpus["labelled_nirs"]
