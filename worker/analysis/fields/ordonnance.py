"""Ordonnance fields: date, prescriber, RPPS, medication lines, renewals."""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from worker.analysis.fields import common
from worker.analysis.text import Page, located

_DATE_LABEL = re.compile(r"(?:\ble\b|\bdate\b|\bfait\b)")
_STRENGTH = re.compile(
    r"(?<![a-z])(\d+(?:[.,]\d+)?) ?(mg|µg|ug|mcg|g|ml|ui|%)(?: ?/ ?(\d+(?:[.,]\d+)?) ?(mg|ml|g|dose))?(?![a-z])"
)
_BULLET = re.compile(r"^\s*(?:\d{1,2} ?[).]|[-•*>])\s*")
_NAME_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’\-/]*")
_FORMS = (
    "comprime",
    "gelule",
    "sachet",
    "poudre",
    "solution",
    "suspension",
    "sirop",
    "lyophilisat",
    "collyre",
    "creme",
    "pommade",
    "gel",
    "capsule",
    "ampoule",
    "suppositoire",
    "granule",
    "cp",
)
_POSOLOGY = re.compile(
    r"\b(?:par jour|fois|matin|midi|soir|si besoin|/ ?j|bouffee|sachet|cp|comprime|gelule|"
    r"cuillere|goutte|au coucher|a jeun)"
)
_DURATION = re.compile(r"pendant \d+ ?(?:jours?|mois|semaines?)")
_QUANTITY = re.compile(r"\bqsp \d+ ?(?:jours?|mois|semaines?)|\b\d+ ?boites?\b")
_RENEW = re.compile(r"renouve(?:ler|lable)(?: ?:)? ?(\d{1,2}|une|deux|trois) ?fois")
_NOT_MEDICATION = re.compile(r"\b(?:poids|kg|taille|cm|age|ans|tel|rue)\b")
_WORD_NUMBERS = {"une": 1, "deux": 2, "trois": 3}


def _name_before(page: Page, start: int, stop: int) -> tuple[str, int, int] | None:
    """Medication name: the words between a line's bullet and its strength."""
    segment = page.text[start:stop]
    bullet = _BULLET.match(segment)
    offset = start + (bullet.end() if bullet else 0)
    words = list(_NAME_WORD.finditer(page.text, offset, stop))
    if not words:
        return None
    # Names in capitals may have several words (ACIDE ACETYLSALICYLIQUE); a capitalised one is its last word.
    if words[-1].group().isupper():
        k = len(words) - 1
        while k > 0 and words[k - 1].group().isupper() and len(words) - k < 4:
            k -= 1
        words = words[k:]
    else:
        words = words[-1:]
    name = " ".join(w.group() for w in words).strip(" -/")
    if len(re.sub(r"[^A-Za-zÀ-ÿ]", "", name)) < 3:
        return None
    return name, words[0].start(), words[-1].end()


def _follow_lines(page: Page, line: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
    """Posology, duration and quantity from the (at most two) lines after a medication line."""
    posology = duration = quantity = None
    for i in range(line + 1, min(line + 3, len(page.lines))):
        ln = page.lines[i]
        norm = page.norm[ln.start : ln.end]
        if _STRENGTH.search(norm) and not _POSOLOGY.match(norm.strip()):
            break
        if posology is None and _POSOLOGY.search(norm):
            posology = located(page.text[ln.start : ln.end].strip(), 0.7, page, ln.start, ln.end)
            d = _DURATION.search(norm)
            if d:
                duration = located(
                    page.text[ln.start + d.start() : ln.start + d.end()],
                    0.8,
                    page,
                    ln.start + d.start(),
                    ln.start + d.end(),
                )
        q = _QUANTITY.search(norm)
        if q and quantity is None:
            quantity = located(
                page.text[ln.start + q.start() : ln.start + q.end()],
                0.75,
                page,
                ln.start + q.start(),
                ln.start + q.end(),
            )
    return posology, duration, quantity


def medications(pages: list[Page]) -> list[dict[str, Any]]:
    """One entry per line that names a product and its strength (``DOLIPRANE 1000 mg comprimé``)."""
    out = []
    for page in pages:
        for i, ln in enumerate(page.lines):
            norm = page.norm[ln.start : ln.end]
            m = _STRENGTH.search(norm)
            if not m or _NOT_MEDICATION.search(norm[: m.start()]):
                continue
            name = _name_before(page, ln.start, ln.start + m.start())
            if not name:
                continue
            s0, s1 = ln.start + m.start(), ln.start + m.end()
            rest = norm[m.end() :].lstrip(" ,;-")
            form = None
            if rest.startswith(_FORMS):
                f0 = ln.end - len(rest)
                form = located(page.text[f0 : ln.end].strip(), 0.75, page, f0, ln.end)
            posology, duration, quantity = _follow_lines(page, i)
            out.append(
                {
                    "name": located(name[0], 0.8, page, name[1], name[2]),
                    "strength": located(page.text[s0:s1], 0.85, page, s0, s1),
                    "form": form,
                    "posology": posology,
                    "duration": duration,
                    "quantity": quantity,
                }
            )
    return out


def renewals(pages: list[Page]) -> dict[str, Any]:
    for page in pages:
        m = _RENEW.search(page.norm)
        if m:
            raw = m.group(1)
            value = _WORD_NUMBERS.get(raw) or int(raw)
            return located(value, 0.85, page, m.start(), m.end())
    return {"value": 0, "confidence": 0.6, "page": None, "span": None}


def extract(pages: list[Page], today: _dt.date) -> dict[str, Any]:
    return {
        "prescription_date": common.labelled_date(pages, today, _DATE_LABEL),
        "prescriber_name": common.doctor_name(pages),
        "rpps": common.rpps(pages),
        "medications": medications(pages),
        "renewals": renewals(pages),
    }
