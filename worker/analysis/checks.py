"""Check digits and sanity rules that choose among noisy OCR candidates.

OCR misreads digits; check digits (Luhn for RPPS) and plausibility (dates in a
sane range, amounts that add up) tell a right reading from a wrong one, so the
extractors propose every candidate and keep the ones these rules accept.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

from worker.analysis.text import Page, edit_distance

MONTHS = [
    "janvier",
    "fevrier",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "aout",
    "septembre",
    "octobre",
    "novembre",
    "decembre",
]
_NUMBER = re.compile(r"(?<!\d)\d+(?: {1,2}\d+)*(?!\d)")
_DATE_NUM = re.compile(r"(?<![\d,])(\d{1,2}) ?[/.\-] ?(\d{1,2}) ?[/.\-] ?(\d{4}|\d{2})(?![\d,])")
_DATE_LONG = re.compile(r"(?<!\d)(\d{1,2})(?:er)? {1,2}([a-z]{3,10})\.? {1,2}(\d{4})(?!\d)")
_AMOUNT = re.compile(r"(?<![\d.,/\-])(\d{1,5}) ?[,.] ?(\d{2})(?! ?[./\-]? ?\d)(?: ?(€|eur\b|euros?\b|e\b))?")


def luhn_valid(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def rpps_valid(digits: str) -> bool:
    """An RPPS identifier: 11 digits, starting with 10, Luhn check digit."""
    return len(digits) == 11 and digits.startswith("10") and luhn_valid(digits)


@dataclass(frozen=True)
class NumberCandidate:
    digits: str
    start: int
    end: int
    grouped: bool  # assembled from space-separated groups


def numbers(
    page: Page, start: int = 0, end: int | None = None, lengths: range | None = None
) -> Iterator[NumberCandidate]:
    """Digit sequences in ``page.norm[start:end]``; spaces inside numbers tolerated.

    A run of space-separated groups also yields each contiguous sub-run (whole
    groups only), because merged columns glue a neighbouring number to the one
    wanted: ``RPPS 10181590836 01 82`` still offers ``10181590836``.
    """
    end = len(page.norm) if end is None else end
    for m in _NUMBER.finditer(page.norm, start, end):
        groups = [(g.start(), g.end()) for g in re.finditer(r"\d+", m.group())]
        for i in range(len(groups)):
            for j in range(i, len(groups)):
                s, e = m.start() + groups[i][0], m.start() + groups[j][1]
                digits = re.sub(r"\D", "", page.norm[s:e])
                if lengths is None or len(digits) in lengths:
                    yield NumberCandidate(digits, s, e, grouped=j > i)


def month_number(word: str) -> int | None:
    """French month name, tolerating one OCR slip (``fevrler``, ``aoüt`` folded to ``aout``)."""
    if word in MONTHS:
        return MONTHS.index(word) + 1
    if len(word) < 4:
        return None
    best = [(edit_distance(word, m, 1), i) for i, m in enumerate(MONTHS)]
    dist, index = min(best)
    return index + 1 if dist <= 1 else None


def make_date(day: int, month: int, year: int) -> _dt.date | None:
    if year < 100:
        year += 2000 if year < 70 else 1900
    try:
        return _dt.date(year, month, day)
    except ValueError:
        return None


@dataclass(frozen=True)
class DateCandidate:
    value: _dt.date
    start: int
    end: int
    long_form: bool


def dates(page: Page, start: int = 0, end: int | None = None) -> list[DateCandidate]:
    """Every calendar-valid date in the slice (``12/03/2026``, ``12.03.26``, ``12 mars 2026``)."""
    end = len(page.norm) if end is None else end
    found = []
    for m in _DATE_NUM.finditer(page.norm, start, end):
        d = make_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if d:
            found.append(DateCandidate(d, m.start(), m.end(), False))
    for m in _DATE_LONG.finditer(page.norm, start, end):
        month = month_number(m.group(2))
        d = make_date(int(m.group(1)), month, int(m.group(3))) if month else None
        if d:
            found.append(DateCandidate(d, m.start(), m.end(), True))
    return sorted(found, key=lambda c: c.start)


def plausible_document_date(d: _dt.date, today: _dt.date) -> bool:
    """A prescription or care date: not before 2000, not more than a few days ahead of today."""
    return _dt.date(2000, 1, 1) <= d <= today + _dt.timedelta(days=7)


def plausible_validity(start: _dt.date, end: _dt.date) -> bool:
    """A card's validity: ordered, at most three years, within this century."""
    return _dt.date(2000, 1, 1) <= start < end <= start + _dt.timedelta(days=3 * 366)


@dataclass(frozen=True)
class AmountCandidate:
    value: float
    start: int
    end: int
    currency: bool


def amounts(page: Page, start: int = 0, end: int | None = None) -> list[AmountCandidate]:
    """Money amounts with two decimals (``30,00 €``, ``30.00 EUR``, ``3O,OO`` read as 30.00)."""
    end = len(page.norm) if end is None else end
    out = []
    for m in _AMOUNT.finditer(page.norm, start, end):
        value = int(m.group(1)) + int(m.group(2)) / 100
        if 0 < value < 100_000:
            out.append(AmountCandidate(round(value, 2), m.start(), m.end(), bool(m.group(3))))
    return out
