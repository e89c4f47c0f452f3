"""BDPM matching on the local mirror, the default source: a medication line → its speciality (CIS).

Each medication read on an ordonnance (name, strength, form) is searched in the name index of the live
mirror version (worker/bdpm/match.py). At or above the threshold it gets its CIS, the BDPM denomination,
form, routes, generic group and prescription conditions, and the box (CIP13) when the document shows a
box code of that speciality, or when the prescribed quantity picks exactly one. A box code on the document
that belongs to one of the candidates decides between them. The analysis records the mirror version it
matched against (``bdpm_version``), so a sync that changes the data makes it stale and the backlog re-matches.
"""

from __future__ import annotations

import re
from typing import Any

from worker.analysis import medications
from worker.bdpm import store
from worker.bdpm.match import THRESHOLD, Candidate, NameIndex

_CIP13 = re.compile(r"(?<!\d)3 ?4 ?0 ?0 ?9(?: ?\d){8}(?!\d)")
BOX_MARGIN = 0.15  # a candidate whose box code is on the document wins if it scores at least THRESHOLD - this


def _ean13_ok(code: str) -> bool:
    digits = [int(c) for c in code]
    total = sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits[:12]))
    return (10 - total % 10) % 10 == digits[12]


def document_cips(pages: list[dict[str, Any]]) -> list[str]:
    """CIP13 box codes (``34009…``, check digit valid) printed anywhere on the document, in order."""
    found = []
    for page in pages:
        for m in _CIP13.finditer(str(page.get("text") or "")):
            code = m.group().replace(" ", "")
            if _ean13_ok(code):
                found.append(code)
    return list(dict.fromkeys(found))


def _value(field: Any) -> str:
    return str(field.get("value") or "") if isinstance(field, dict) else ""


def _brief(c: Candidate) -> dict[str, Any]:
    return {"cis": c.cis, "score": c.score, "denomination": c.denomination}


def match_medication(
    db: store.Database, version: int, index: NameIndex, med: dict[str, Any], boxes: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The ``bdpm`` result of one medication field (``boxes``: CIS → presentation of the codes on the document)."""
    text = " ".join(_value(med.get(k)) for k in ("name", "strength", "form")).strip()
    head = {"source": "mirror", "mirror_version": version}
    candidates = index.search(text, limit=5) if text else []
    if not candidates:
        return {"status": "unmatched", "reason": "no candidate", **head}
    top = next((c for c in candidates if c.cis in boxes and c.score >= THRESHOLD - BOX_MARGIN), candidates[0])
    if top.score < THRESHOLD and top.cis not in boxes:
        return {
            "status": "unmatched",
            "reason": "no candidate above the threshold",
            "best": [_brief(c) for c in candidates[:3]],
            **head,
        }
    detail = store.get_by_cis(db, top.cis, version) or {}
    presentation = boxes.get(top.cis) or medications.presentation(detail, _value(med.get("quantity")) or None)
    return {
        "status": "matched",
        "score": top.score,
        "cis": top.cis,
        "denomination": top.denomination,
        "form": top.form,
        "routes": list(top.routes),
        "marketed": top.marketed,
        "matched_on": "box" if top.cis in boxes else top.matched_on,
        "generic_group": top.generic_group,
        "prescription_conditions": detail.get("conditions_prescription", []),
        "presentation": presentation,
        "alternatives": [_brief(c) for c in candidates if c is not top][:4],
        **head,
    }


def match_all(
    analysis: dict[str, Any],
    db: store.Database,
    live: tuple[int, NameIndex],
    pages: list[dict[str, Any]],
    now: Any,
    only_pending: bool = False,
) -> None:
    """Match every medication of ``analysis`` on the live mirror (in place) and stamp the mirror version."""
    version, index = live
    boxes: dict[str, dict[str, Any]] = {}
    for code in document_cips(pages):
        found = store.get_by_cip(db, code, version)
        if found and found.get("presentation"):
            box = found["presentation"]
            boxes.setdefault(found["CIS"], {"cip13": box.get("CIP13"), "libelle": box.get("libelle")})
    medications.match_all(
        analysis,
        medications.unavailable_lookup,
        now,
        only_pending,
        line_matcher=lambda med: match_medication(db, version, index, med, boxes),
    )
    analysis["bdpm_version"] = version
