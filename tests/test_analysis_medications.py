"""BDPM matching: accent-insensitive, fuzzy within bounds, strength- and form-aware, pending when BDPM is down."""

from __future__ import annotations

import datetime as _dt

import pytest

from worker.analysis import medications as m


def _med(cis: str, denomination: str, forme: str, dosage: str, presentations: list[tuple[str, str]]) -> dict:
    """A candidate as the BDPM GraphQL API returns it under ``data.medicaments[]``."""
    return {
        "CIS": cis,
        "denomination": denomination,
        "forme_pharmaceutique": forme,
        "substances": [
            {
                "code_substance": "02202",
                "denominations": ["PARACÉTAMOL"],
                "dosage_substance": dosage,
                "reference_dosage": "un comprimé",
                "nature_composant": "SA",
            }
        ],
        "presentations": [
            {
                "CIP7": cip[-7:],
                "CIP13": cip,
                "libelle": lib,
                "taux_remboursement": "65%",
                "prix_sans_honoraires": 1.16,
                "prix_avec_honoraires": 2.18,
            }
            for cip, lib in presentations
        ],
    }


DOLI_1000_CP = _med(
    "60234100",
    "DOLIPRANE 1000 mg, comprimé",
    "comprimé",
    "1000 mg",
    [("3400936403114", "plaquette(s) PVC aluminium de 8 comprimé(s)")],
)
DOLI_1000_GEL = _med(
    "66469541", "DOLIPRANE 1000 mg, gélule", "gélule", "1000 mg", [("3400935955836", "plaquette(s) de 8 gélule(s)")]
)
DOLI_500_CP = _med(
    "69309629",
    "DOLIPRANE 500 mg, comprimé",
    "comprimé",
    "500 mg",
    [("3400934998331", "plaquette(s) de 16 comprimé(s)")],
)
LEVO_50 = _med(
    "67211455",
    "LÉVOTHYROX 50 microgrammes, comprimé sécable",
    "comprimé sécable",
    "50 µg",
    [("3400936041729", "plaquette(s) de 30 comprimé(s)"), ("3400930032794", "plaquette(s) de 90 comprimé(s)")],
)
AUGMENTIN = _med(
    "62391340",
    "AUGMENTIN 1 g/125 mg, poudre pour suspension buvable en sachet-dose (rapport amoxicilline/acide clavulanique : 8/1)",
    "poudre pour suspension buvable en sachet-dose",
    "1 g",
    [("3400935294973", "12 sachet(s)")],
)
ALL = [DOLI_1000_CP, DOLI_1000_GEL, DOLI_500_CP, LEVO_50, AUGMENTIN]


def _line(name: str, strength: str | None = None, form: str | None = None, quantity: str | None = None) -> dict:
    field = lambda v: {"value": v, "confidence": 0.8, "page": 1, "span": [0, 1]} if v else None  # noqa: E731
    return {"name": field(name), "strength": field(strength), "form": field(form), "quantity": field(quantity)}


def test_strength_units_are_compared_in_milligrams():
    assert m.strengths_mg("1 g/125 mg") == (1000.0, 125.0)
    assert m.strengths_mg("50 µg") == m.strengths_mg("0,05 mg")
    assert m.strengths_mg("LÉVOTHYROX 50 microgrammes") == ()  # not a unit we guess


def test_exact_name_strength_and_form_gives_cis_and_presentation():
    r = m.match("DOLIPRANE", "1 g", "comprimé", None, ALL)
    assert r["status"] == "matched" and r["cis"] == "60234100"
    assert r["presentation"]["cip13"] == "3400936403114"


def test_ocr_noise_in_name_is_tolerated_within_bounds():
    assert m.match("D0LIPRAME", "1000 mg", "comprimé", None, ALL)["status"] == "unmatched"  # 2 edits, 9 letters
    assert m.match("DOLIPRAME", "1000 mg", "comprimé", None, ALL)["cis"] == "60234100"  # 1 edit
    assert m.match("Doliprâne", "500 mg", None, None, ALL)["cis"] == "69309629"  # case and accents
    assert m.match("DAFALGAN", "1000 mg", None, None, ALL)["status"] == "unmatched"


def test_strength_decides_and_a_wrong_strength_is_not_a_match():
    assert m.match("DOLIPRANE", "500 mg", None, None, ALL)["cis"] == "69309629"
    r = m.match("DOLIPRANE", "250 mg", None, None, ALL)
    assert r == {"status": "unmatched", "reason": "name found, strength differs"}


def test_without_form_two_products_remain_ambiguous():
    r = m.match("DOLIPRANE", "1000 mg", None, None, ALL)
    assert r["status"] == "ambiguous" and r["cis_candidates"] == ["60234100", "66469541"]
    assert m.match("DOLIPRANE", "1000 mg", "gélule", None, ALL)["cis"] == "66469541"


def test_presentation_chosen_by_quantity_only_when_it_decides():
    assert m.match("LEVOTHYROX", "50 µg", None, "QSP 3 mois", ALL)["presentation"] is None
    assert m.match("LEVOTHYROX", "50 µg", None, "90 comprimés", ALL)["presentation"]["cip13"] == "3400930032794"
    aug = m.match("AUGMENTIN", "1 g/125 mg", "poudre", None, ALL)
    assert aug["cis"] == "62391340"


def test_lookup_is_asked_for_fragments_when_the_name_is_misread():
    asked = []

    def lookup(term: str) -> list[dict]:
        asked.append(term)
        return [c for c in ALL if term in m.name_key(c["denomination"]).replace(" ", "")]

    r = m.match_line(_line("LEVOTHYR0X", "50 µg"), lookup)  # the misread name finds nothing itself
    assert r["cis"] == "67211455" and asked[0] == "levothyr x" and "levot" in asked


def test_unavailable_bdpm_marks_pending_with_backoff_then_retry_matches():
    now = _dt.datetime(2026, 3, 1, 12, 0, tzinfo=_dt.timezone.utc)
    analysis = {"fields": {"medications": [_line("DOLIPRANE", "500 mg"), _line("LEVOTHYROX", "50 µg")]}}
    m.match_all(analysis, m.unavailable_lookup, now)
    assert analysis["bdpm_status"] == "pending"
    first = analysis["fields"]["medications"][0]["bdpm"]
    assert first["attempts"] == 1 and first["retry_after"] == "2026-03-01T12:15:00+00:00"
    m.match_all(analysis, m.unavailable_lookup, now, only_pending=True)
    assert analysis["fields"]["medications"][0]["bdpm"]["retry_after"] == "2026-03-01T12:30:00+00:00"
    m.match_all(analysis, lambda term: ALL, now, only_pending=True)
    assert analysis["bdpm_status"] == "done" and analysis["bdpm_retry_after"] is None
    assert [x["bdpm"]["cis"] for x in analysis["fields"]["medications"]] == ["69309629", "67211455"]


def test_no_medications_is_not_applicable():
    analysis: dict = {"fields": {}}
    m.match_all(analysis, m.unavailable_lookup, _dt.datetime(2026, 3, 1, tzinfo=_dt.timezone.utc))
    assert analysis["bdpm_status"] == "not_applicable"


@pytest.mark.parametrize("name,edits", [("SPASFON", 1), ("AMOXICILLINE", 2), ("ESOMEPRAZOLE", 2)])
def test_edit_bounds_grow_with_name_length(name, edits):
    assert m.max_edits(name.lower()) == edits
