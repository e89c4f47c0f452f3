"""Pure extraction: OCR-noise tolerance, check digits, sanity rules, locations, NIR never in clear."""

from __future__ import annotations

import datetime as _dt
import json

from worker.analysis import analyze_text
from worker.analysis import checks
from worker.analysis.text import Page, digitize, fold
from worker.privacy import mask_nirs

TODAY = _dt.date(2026, 6, 1)
ORDONNANCE = """Dr Hélène GUÉRIN          Lyon, le 3 févrler 2026
Médecine générale
N° RPPS 1OOO 345 6786
Mme Léa Benali

1) DOLIPRANE 1000 mg comprimé
1 comprimé 3 fois par jour pendant 5 jours
2) Levothyrox 50 µg
1 cp le matin à jeun
QSP 3 mois
À renouveler 2 fois
"""


def _span_text(page_text: str, field: dict) -> str:
    s, e = field["span"]
    return page_text[s:e]


def test_normalised_views_keep_offsets():
    text = "Médecin 1O18l5 Il SOINS Ü"
    assert len(fold(text)) == len(text) and len(digitize(text)) == len(text)
    assert digitize(text) == "Médecin 101815 Il SOINS Ü"
    assert fold("ÉCOLE été") == "ecole ete"


def test_luhn_and_rpps_rules():
    assert checks.luhn_valid("10003456786")
    assert not checks.luhn_valid("10003456787")
    assert checks.rpps_valid("10003456786")
    assert not checks.rpps_valid("20003456785")  # Luhn-valid but not an RPPS prefix


def test_ordonnance_fields_with_ocr_noise_and_locations():
    a = analyze_text([{"number": 1, "text": ORDONNANCE}], today=TODAY)
    f = a["fields"]
    assert a["document_type"] == "ordonnance" and a["document_type_confidence"] >= 0.7
    assert f["rpps"]["value"] == "10003456786"  # O/0 swaps and spaces inside the number
    assert _span_text(ORDONNANCE, f["rpps"]) == "1OOO 345 6786"
    assert f["prescription_date"]["value"] == "2026-02-03"  # "févrler": one OCR slip in the month
    assert f["prescriber_name"]["value"] == "Hélène GUÉRIN"
    names = [m["name"]["value"] for m in f["medications"]]
    assert names == ["DOLIPRANE", "Levothyrox"]
    first = f["medications"][0]
    assert first["strength"]["value"] == "1000 mg" and first["form"]["value"] == "comprimé"
    assert first["duration"]["value"] == "pendant 5 jours"
    assert f["medications"][1]["quantity"]["value"] == "QSP 3 mois"
    assert f["renewals"]["value"] == 2
    for m in f["medications"]:
        assert m["name"]["page"] == 1 and _span_text(ORDONNANCE, m["name"]) == m["name"]["value"]


def test_invalid_rpps_is_left_empty_rather_than_guessed():
    text = ORDONNANCE.replace("1OOO 345 6786", "10003456787")
    assert analyze_text([{"number": 1, "text": text}], today=TODAY)["fields"]["rpps"] is None


def test_future_and_birth_dates_are_not_the_document_date():
    text = (
        "FEUILLE DE SOINS cerfa 12541*02\nDate de naissance : 02/03/1961\nIdentification du médecin\n"
        "Dr Paul Roche\nRPPS 10003456786\nDate Code de l'acte Montant\n14/05/2026 G 30,00 €\n"
        "Montant total : 30,00 €\nRendez-vous le 12/12/2027\n"
    )
    f = analyze_text([{"number": 1, "text": text}], today=TODAY)["fields"]
    assert f["care_date"]["value"] == "2026-05-14"
    assert f["total_amount"]["value"] == 30.0 and f["acts"][0]["code"]["value"] == "G"


def test_feuille_total_found_by_sum_when_columns_are_split():
    text = (
        "FEUILLE DE SOINS\nIdentification du médecin\nNom et prénom : ROCHE Paul\nN° RPPS : 100 034 56786\n"
        "Date Code de l'acte\n20/06/2024 APC\n20-06-2024 DEQP003\nMontant total :\n\nMontant\n55,00 €\n"
        "14,52€\n\n69,52 €\n"
    )
    f = analyze_text([{"number": 1, "text": text}], today=TODAY)["fields"]
    assert f["total_amount"]["value"] == 69.52
    assert [(a["code"]["value"], a["amount"]["value"]) for a in f["acts"]] == [("APC", 55.0), ("DEQP003", 14.52)]
    assert f["practitioner_name"]["value"] == "ROCHE Paul"
    assert f["rpps"]["value"] == "10003456786" and f["rpps"]["confidence"] < 0.97


def test_carte_fields():
    text = (
        "HARMONIE MUTUELLE\nCARTE DE TIERS PAYANT\nN° AMC 4444 5371\nN° adhérent 055901945567\n"
        "Valable du 01/01/2026 au 31/12/2026\nBénéficiaires\nMOREL Sophie 16/11/1954\n"
        "PHAR 100% MED 100%BR DENT 300 %  OPTI PEC\n"
    )
    f = analyze_text([{"number": 1, "text": text}], today=TODAY)["fields"]
    assert f["amc_number"]["value"] == "44445371" and f["adherent_number"]["value"] == "055901945567"
    assert (f["valid_from"]["value"], f["valid_to"]["value"]) == ("2026-01-01", "2026-12-31")
    assert f["coverage"]["value"] == {"PHAR": "100%", "MED": "100% BR", "DENT": "300%", "OPTI": "PEC"}
    assert [b["value"] for b in f["beneficiaries"]] == ["MOREL Sophie"]
    assert f["insurer"]["value"] == "HARMONIE MUTUELLE"


def test_hint_does_not_overrule_the_text_but_settles_nothing_else():
    a = analyze_text([{"number": 1, "text": ORDONNANCE}], hint="carte_tiers_payant", today=TODAY)
    assert a["document_type"] == "ordonnance" and a["hint"] == {"value": "carte_tiers_payant", "agreed": False}
    report = "COMPTE RENDU DE CONSULTATION\nUne ordonnance a été remise. Traitement par DOLIPRANE 1000 mg poursuivi.\n"
    assert analyze_text([{"number": 1, "text": report}], today=TODAY)["document_type"] == "compte_rendu"
    assert (
        analyze_text([{"number": 1, "text": "Liste de courses: pain, lait"}], today=TODAY)["document_type"] == "unknown"
    )


def test_nir_recorded_masked_only_including_corsica_and_compact():
    nir = "2690299123456" + f"{97 - int('2690299123456') % 97:02d}"
    body = "185032A116042"
    corsica = body + f"{97 - int(body.replace('2A', '19')) % 97:02d}"
    text = (
        "CARTE DE TIERS PAYANT\nN° AMC 12345678\nBénéficiaires\n"
        f"MOREL Sophie 16/11/1954 {nir}\nMOREL Luc 01/02/1985 {corsica[:1]} {corsica[1:3]} {corsica[3:5]} "
        f"{corsica[5:7]} {corsica[7:10]} {corsica[10:13]} {corsica[13:]}\n"
    )
    a = analyze_text([{"number": 1, "text": text}], today=TODAY)
    dumped = json.dumps(a, ensure_ascii=False)
    assert a["nir"]["present"] and len(a["nir"]["masked"]) == 2
    assert nir not in dumped and corsica not in dumped and "116 042" not in dumped
    masked_text, _ = mask_nirs(text)  # as ingestion stores it: still reported present
    assert analyze_text([{"number": 1, "text": masked_text}], today=TODAY)["nir"]["present"]


def test_page_numbers_and_spans_on_multi_page_documents():
    pages = [{"number": 1, "text": "COMPTE RENDU\nsuite"}, {"number": 2, "text": ORDONNANCE}]
    prepared = Page(2, ORDONNANCE)
    assert prepared.line_norm(0).startswith("dr helene guerin")
    a = analyze_text(pages, hint="ordonnance", today=TODAY)
    assert a["fields"]["rpps"]["page"] == 2
