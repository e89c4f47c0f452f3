"""Document type from noisy OCR text: weighted cues per type, the upload hint only as a tie-breaker.

Cues are matched on the folded text (no accents, lowercase), so ``Médecin``
read as ``Medecin`` or ``MEDECIN`` counts the same. Each cue is a regular
expression with a weight; titles weigh most, vocabulary less. The hint from the
app (``document_type_hint``) adds a small bonus: it can settle a close call but
never overrule the text. A document with no strong cue is ``unknown``.
"""

from __future__ import annotations

import math
import re

from worker.analysis.text import Page

TYPES = ("ordonnance", "carte_tiers_payant", "feuille_de_soins", "compte_rendu")
_CUES: dict[str, list[tuple[str, float]]] = {
    "ordonnance": [
        (r"\bordonnance\b", 2.0),
        (r"\bprescription\b", 1.0),
        (r"\brpps\b", 1.0),
        (r"\d+(?:[.,]\d+)? ?(?:mg|µg|ug|mcg|g|ml|ui)\b", 1.0),
        (r"\b(?:comprime|gelule|sachet|ampoule|bouffee|cp)s?\b", 0.8),
        (r"\bpar jour\b|\bfois par\b|/ ?j\b|\bmatin\b|\bsoir\b", 0.8),
        (r"\bpendant \d+ ?(?:jours|mois|semaines)", 0.8),
        (r"\bqsp\b", 1.5),
        (r"\brenouve(?:ler|lable)\b", 1.5),
        (r"\bpoids\b", 0.5),
        (r"\bsignature\b", 0.3),
    ],
    "carte_tiers_payant": [
        (r"\btiers[ -]?payant\b", 2.0),
        (r"\bcarte (?:de )?(?:tiers|mutuelle)\b", 3.0),
        (r"\bmutuelle\b", 1.0),
        (r"\bamc\b", 2.5),
        (r"\badherent\b", 2.0),
        (r"\bbeneficiaires?\b", 1.5),
        (r"\bvalable du\b|\bvalidite\b", 2.0),
        (r"\b(?:phar|svil|cste|tran|deso|depr|deor|opau|hosp|exte|phco|phno|phor|mede|audi|dent|opti)\b", 0.7),
        (r"\b\d{2,3} ?% ?br\b", 0.8),
        (r"\bstrictement personnelle\b", 1.0),
    ],
    "feuille_de_soins": [
        (r"\bfeuille de soins\b", 5.0),
        (r"\bcerfa\b", 2.0),
        (r"\b12541\b", 2.0),
        (r"\bimmatriculation\b", 1.5),
        (r"\bcode de l.acte\b|\bactes? medicaux\b|\bsoins dispenses\b", 2.0),
        (r"\bmontant\b", 1.0),
        (r"\bassure\(?e?\)?\b", 1.0),
        (r"\bidentification du medecin\b", 2.0),
        (r"\bpart obligatoire\b", 1.0),
        (r"\bacquitte\b|\bpaiement\b", 0.8),
    ],
    "compte_rendu": [
        (r"\bcompte[ -]?rendu\b", 5.0),
        (r"\blettre de liaison\b", 4.0),
        (r"\bhospitalisation\b", 1.0),
        (r"\bconsultation\b", 1.0),
        (r"\bexamen clinique\b", 1.5),
        (r"\bantecedents?\b", 1.5),
        (r"\bconclusion\b", 1.0),
        (r"\bservice de\b", 1.0),
        (r"\b(?:chu|centre hospitalier|clinique|hopital)\b", 1.5),
        (r"\bbilan\b", 0.8),
        (r"\bchere? (?:consoeur|confrere)\b|\bje vous remercie\b", 1.5),
        (r"\bechographie\b|\boperatoire\b", 1.0),
    ],
}
_COMPILED = {t: [(re.compile(p), w) for p, w in cues] for t, cues in _CUES.items()}
# Repeated cues add with diminishing returns: 1st full weight, later ones less (capped).
_REPEAT_CAP = 4
_UNKNOWN_BELOW = 3.5
_HINT_BONUS = 1.5


def _prose_score(pages: list[Page]) -> float:
    """Letters-and-sentences documents (reports) have long lines of lowercase words and few digits."""
    lines = [p.norm[ln.start : ln.end] for p in pages for ln in p.lines]
    if not lines:
        return 0.0
    long_lines = sum(1 for ln in lines if len(ln) > 45 and sum(c.isdigit() for c in ln) < 4 and ln.count(" ") > 6)
    return min(long_lines / 2.0, 4.0)


def scores(pages: list[Page]) -> dict[str, float]:
    text = "\n".join(p.norm for p in pages)
    out = {}
    for doc_type, cues in _COMPILED.items():
        total = 0.0
        for rx, weight in cues:
            n = min(len(rx.findall(text)), _REPEAT_CAP)
            total += sum(weight / (1 + k) for k in range(n))
        out[doc_type] = total
    out["compte_rendu"] += _prose_score(pages)
    return out


def classify(pages: list[Page], hint: str | None = None) -> tuple[str, float, dict[str, float]]:
    """``(document_type, confidence, scores)``; confidence reflects the margin over the runner-up."""
    s = scores(pages)
    if hint in s:
        s[hint] += _HINT_BONUS
    ranked = sorted(s.items(), key=lambda kv: kv[1], reverse=True)
    (best, top), (_, second) = ranked[0], ranked[1]
    if top < _UNKNOWN_BELOW:
        return "unknown", round(1 - top / (2 * _UNKNOWN_BELOW), 2), {k: round(v, 2) for k, v in s.items()}
    margin = top - second
    confidence = (1 - math.exp(-margin / 3)) * min(1.0, top / 8)
    return best, round(0.5 + 0.5 * confidence, 2), {k: round(v, 2) for k, v in s.items()}
