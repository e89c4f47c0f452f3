"""Pure analysis: OCR pages in, a JSON-ready analysis out (no database, no network, no logging of content).

The result is what ``documents.analysis`` stores, versioned by
``EXTRACTOR_VERSION`` so that improved extractors re-run over old documents.
Every field is ``{value, confidence, page, span}``; low-confidence fields are
listed in ``needs_review`` for the app to ask the user. NIRs are detected here
too (ingestion masks them, but this function may see raw text): the analysis
only records that one was present and its masked form, and a last pass masks
any NIR that slipped into a value.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from typing import Any

from models.clock import utcnow
from worker import privacy
from worker.analysis import classify as _classify
from worker.analysis.fields import carte, feuille, ordonnance
from worker.analysis.text import Page, prepare

# Bump when extraction changes: documents analysed by an older version are picked up again.
EXTRACTOR_VERSION = 1
REVIEW_BELOW = 0.6
_EXTRACTORS: dict[str, Callable[[list[Page], _dt.date], dict[str, Any]]] = {
    "ordonnance": ordonnance.extract,
    "carte_tiers_payant": carte.extract,
    "feuille_de_soins": feuille.extract,
}


def nir_presence(pages: list[Page]) -> dict[str, Any]:
    """Whether a NIR is on the document (clear and key-valid, or already masked), masked forms and places only."""
    masked, where = [], []
    for page in pages:
        for m in privacy.find_nirs(page.text):
            masked.append(m.masked)
            where.append({"page": page.number, "span": [m.start, m.end]})
        for hit in privacy.MASKED_PATTERN.finditer(page.text):
            masked.append(privacy.mask(re.sub(r"\s", "", hit.group()).replace("*", "0")[:13]))
            where.append({"page": page.number, "span": [hit.start(), hit.end()]})
    return {"present": bool(masked), "masked": sorted(set(masked)), "locations": where}


def _review(fields: dict[str, Any], prefix: str = "") -> list[str]:
    """Paths of fields whose confidence is below REVIEW_BELOW."""
    out = []
    for key, val in fields.items():
        path = f"{prefix}{key}"
        if isinstance(val, dict) and "confidence" in val:
            if val["confidence"] < REVIEW_BELOW:
                out.append(path)
        elif isinstance(val, dict):
            out += _review(val, path + ".")
        elif isinstance(val, list):
            for i, item in enumerate(val):
                if isinstance(item, dict):
                    out += _review(item if "confidence" not in item else {"": item}, f"{path}[{i}].")
    return [p.rstrip(".") for p in out]


def analyze_text(pages: list[dict[str, Any]], hint: str | None = None, today: _dt.date | None = None) -> dict[str, Any]:
    """Analyse OCR pages (``[{number, text, ...}]``): document type, fields, NIR presence."""
    today = today or utcnow().date()
    prepared = prepare(pages)
    doc_type, confidence, scores = _classify.classify(prepared, hint)
    extractor = _EXTRACTORS.get(doc_type)
    fields = privacy.scrub(extractor(prepared, today)) if extractor else {}  # defence in depth: merged columns
    return {
        "extractor_version": EXTRACTOR_VERSION,
        "document_type": doc_type,
        "document_type_confidence": confidence,
        "type_scores": scores,
        "hint": {"value": hint, "agreed": hint == doc_type} if hint else None,
        "fields": fields,
        "needs_review": _review(fields),
        "nir": nir_presence(prepared),
    }
