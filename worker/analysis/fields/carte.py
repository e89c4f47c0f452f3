"""Carte / attestation de tiers payant fields: insurer, AMC and adherent numbers, validity, coverage, beneficiaries."""

from __future__ import annotations

import datetime as _dt
import itertools
import re
from typing import Any

from worker.analysis import checks
from worker.analysis.fields import common
from worker.analysis.text import Page, located

_TITLE = re.compile(r"^\W*(?:carte|attestation|tiers|organisme|n ?°|numero|valable|validite)")
_AMC = re.compile(r"\ba ?m ?[ck]\b")
_ADHERENT = re.compile(r"adh[ea]?rent")
_VALIDITY = re.compile(r"valable|validit|periode|valid")
_BENEFICIARIES = re.compile(r"beneficiaire")
CODES = (
    "PHAR",
    "MED",
    "SVIL",
    "CSTE",
    "TRAN",
    "DESO",
    "DEPR",
    "DEOR",
    "OPAU",
    "HOSP",
    "EXTE",
    "PHCO",
    "PHNO",
    "PHOR",
    "MEDE",
    "AUDI",
    "DENT",
    "OPTI",
)
_COVERAGE = re.compile(r"\b(" + "|".join(c.lower() for c in CODES) + r") ?:? ?(\d{1,3} ?%(?: ?br\b)?|pec\b|non\b)")


def _labelled_number(pages: list[Page], label: re.Pattern[str], lengths: range, conf: float) -> dict[str, Any] | None:
    """First number of an allowed length after ``label`` on its line (or at the start of the next line)."""
    for page in pages:
        for m in label.finditer(page.norm):
            line = page.line_at(m.start())
            stop = page.lines[min(line + 1, len(page.lines) - 1)].end
            for cand in checks.numbers(page, m.end(), stop, lengths):
                if page.line_at(cand.start) > line + 1:
                    break
                c = conf - (0.1 if cand.grouped else 0.0) - (0.15 if page.line_at(cand.start) != line else 0.0)
                return located(cand.digits, c, page, cand.start, cand.end)
    return None


def insurer(pages: list[Page]) -> dict[str, Any] | None:
    """The card's issuer: its first line that is not a title or a labelled number."""
    page = pages[0]
    for ln in page.lines[:3]:
        norm = page.norm[ln.start : ln.end]
        if len(norm.strip()) >= 3 and not _TITLE.match(norm) and not re.search(r"\d{4}", norm):
            return located(page.text[ln.start : ln.end].strip(), 0.6, page, ln.start, ln.end)
    return None


def validity(pages: list[Page]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Validity period: two ordered dates on the validity line; else the first ordered pair on any line."""
    fallback = None
    for page in pages:
        for ln in page.lines:
            found = checks.dates(page, ln.start, ln.end)
            pairs = [(a, b) for a, b in itertools.pairwise(found) if checks.plausible_validity(a.value, b.value)]
            if not pairs:
                continue
            a, b = pairs[0]
            labelled = bool(_VALIDITY.search(page.norm[ln.start : ln.end]))
            conf = 0.92 if labelled else 0.65
            result = (
                located(a.value.isoformat(), conf, page, a.start, a.end),
                located(b.value.isoformat(), conf, page, b.start, b.end),
            )
            if labelled:
                return result
            fallback = fallback or result
    return fallback or (None, None)


def coverage(pages: list[Page]) -> dict[str, Any] | None:
    table: dict[str, str] = {}
    spans: list[tuple[int, int]] = []
    page0: Page | None = None
    for page in pages:
        for m in _COVERAGE.finditer(page.norm):
            value = re.sub(r"\s+", "", m.group(2)).upper().replace("%BR", "% BR")
            table.setdefault(m.group(1).upper(), value)
            spans.append((m.start(), m.end()))
            page0 = page0 or page
    if not table or page0 is None:
        return None
    return located(table, 0.8, page0, spans[0][0], spans[-1][1])


def beneficiaries(pages: list[Page]) -> list[dict[str, Any]]:
    """Names on the lines under "Bénéficiaires" that carry a (birth) date."""
    out = []
    for page in pages:
        header = _BENEFICIARIES.search(page.norm)
        if not header:
            continue
        for ln in page.lines[page.line_at(header.start()) + 1 :]:
            found = checks.dates(page, ln.start, ln.end)
            if _COVERAGE.search(page.norm[ln.start : ln.end]):
                break
            if not found:
                continue
            name = common.name_after(page, ln.start)
            if name and name[2] <= found[0].start:
                out.append(located(name[0], 0.7, page, name[1], name[2]))
    return out


def extract(pages: list[Page], today: _dt.date) -> dict[str, Any]:
    valid_from, valid_to = validity(pages)
    return {
        "insurer": insurer(pages),
        "amc_number": _labelled_number(pages, _AMC, range(8, 11), 0.9),
        "adherent_number": _labelled_number(pages, _ADHERENT, range(4, 16), 0.85),
        "valid_from": valid_from,
        "valid_to": valid_to,
        "coverage": coverage(pages),
        "beneficiaries": beneficiaries(pages),
    }
