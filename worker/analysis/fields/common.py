"""Field finders shared by several document types: labelled numbers, RPPS, dates, person names."""

from __future__ import annotations

import datetime as _dt
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from worker.analysis import checks
from worker.analysis.text import Page, located

RPPS_LABEL = re.compile(r"r ?p ?p ?[s5]")
_NAME_TOKEN = re.compile(r"[A-ZÀ-ÖØ-Þ][A-Za-zÀ-ÖØ-öø-ÿ'’\-]*\.?")
_NOT_NAME = {
    "tel",
    "tél",
    "rpps",
    "n°",
    "le",
    "mme",
    "m.",
    "mr",
    "madame",
    "monsieur",
    "patient",
    "date",
    "fait",
    "paris",
    "signature",
    "medecin",
    "médecin",
    "generaliste",
    "généraliste",
    "ordonnance",
    "rue",
    "avenue",
    "specialiste",
    "spécialiste",
    "am",
    "n",
    "nom",
    "prenom",
    "prénom",
}
_DOCTOR = re.compile(r"\b(?:dr|docteur|pr|professeur)\b\.? ?")
_BIRTH = re.compile(r"(?:ne|nee|naissance|ne\(e\))\s*(?:le|:)?\s*$")


def label_hits(page: Page, rx: re.Pattern[str]) -> Iterator[re.Match[str]]:
    return rx.finditer(page.norm)


def rpps(pages: list[Page]) -> dict[str, Any] | None:
    """The practitioner's RPPS: 11 digits starting 10, Luhn-valid; a nearby "RPPS" label raises confidence.

    Only check-digit-valid readings are kept: a misread digit fails Luhn, so the
    field is left empty (and the app asks) rather than filled with a wrong number.
    """
    best: tuple[float, dict[str, Any]] | None = None
    for page in pages:
        labels = [m.end() for m in label_hits(page, RPPS_LABEL)]
        for cand in checks.numbers(page, lengths=range(11, 12)):
            if not checks.rpps_valid(cand.digits):
                continue
            line = page.line_at(cand.start)
            labelled = any(page.line_at(pos) in (line, line - 1) and pos <= cand.start + 40 for pos in labels)
            conf = (0.97 if labelled else 0.7) - (0.07 if cand.grouped else 0.0)
            if best is None or conf > best[0]:
                best = (conf, located(cand.digits, conf, page, cand.start, cand.end))
    return best[1] if best else None


def _is_birth(page: Page, start: int) -> bool:
    return bool(_BIRTH.search(page.norm[max(0, start - 30) : start]))


def document_dates(pages: list[Page], today: _dt.date) -> list[tuple[Page, checks.DateCandidate]]:
    """Dates that can be the document's own date: plausible, and not someone's birth date."""
    return [
        (page, cand)
        for page in pages
        for cand in checks.dates(page)
        if checks.plausible_document_date(cand.value, today) and not _is_birth(page, cand.start)
    ]


def labelled_date(pages: list[Page], today: _dt.date, label: re.Pattern[str]) -> dict[str, Any] | None:
    """The document date: one introduced by ``label`` on its line if any, else the most repeated, else the first."""
    found = document_dates(pages, today)
    if not found:
        return None
    for page, cand in found:
        ln = page.lines[page.line_at(cand.start)]
        if label.search(page.norm[ln.start : cand.start]):
            return located(cand.value.isoformat(), 0.93, page, cand.start, cand.end)
    counts = Counter(c.value for _, c in found)
    value, n = counts.most_common(1)[0]
    page, cand = next((p, c) for p, c in found if c.value == value)
    conf = 0.8 if n > 1 else (0.7 if len(counts) == 1 else 0.5)
    return located(value.isoformat(), conf, page, cand.start, cand.end)


def name_after(page: Page, offset: int, max_tokens: int = 4) -> tuple[str, int, int] | None:
    """Capitalised name tokens starting at ``offset`` in the original text (stops at labels and punctuation)."""
    text, pos, end = page.text, offset, offset
    tokens: list[str] = []
    start: int | None = None
    line_end = page.lines[page.line_at(offset)].end if page.lines else len(text)
    while pos < line_end and len(tokens) < max_tokens:
        while pos < line_end and text[pos] in " \t:":
            pos += 1
        m = _NAME_TOKEN.match(text, pos)
        if not m or m.end() > line_end or m.group().lower().rstrip(".") in _NOT_NAME:
            break
        if m.end() < len(text) and text[m.end()] in ",;":
            break
        tokens.append(m.group())
        start = m.start() if start is None else start
        end = pos = m.end()
    if start is None or all(len(t.rstrip(".")) <= 1 for t in tokens):
        return None  # no token (``start`` is set with the first one) or only initials
    return " ".join(tokens), start, end


def doctor_name(pages: list[Page], section: re.Pattern[str] | None = None) -> dict[str, Any] | None:
    """Name after "Dr"/"Docteur"; else after "Nom et prénom" inside the practitioner section (``section``)."""
    for page in pages:
        for m in _DOCTOR.finditer(page.norm):
            found = name_after(page, m.end())
            if found:
                return located(found[0], 0.85, page, found[1], found[2])
    if section is None:
        return None
    for page in pages:
        for m in section.finditer(page.norm):
            line = page.line_at(m.start())
            for i in range(line + 1, min(line + 4, len(page.lines))):
                ln = page.lines[i]
                label = re.search(r"nom(?: et| &)? prenom ?:?", page.norm[ln.start : ln.end])
                if label:
                    found = name_after(page, ln.start + label.end())
                    if found:
                        return located(found[0], 0.75, page, found[1], found[2])
    return None
