"""Feuille de soins fields: date of care, practitioner + RPPS, acts with amounts, total.

OCR often splits the acts table into columns read one after the other (codes,
then amounts), so acts are paired by order, and the total is the amount after a
"total" label — or, failing that, the one amount equal to the sum of the others.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from worker.analysis import checks
from worker.analysis.fields import common
from worker.analysis.text import Page, located

_PRACTITIONER = re.compile(r"identification du (?:medecin|praticien)|praticien|medecin ?:")
_DATE_LABEL = re.compile(r"\bdate\b|\bacquitte le\b|\ble\b")
_TOTAL = re.compile(r"\btotal\b")
# NGAP letter keys seen on general-practice forms, and the CCAM code shape (4 letters, 3 digits).
NGAP = (
    "G",
    "GS",
    "C",
    "CS",
    "CSC",
    "APC",
    "MPC",
    "MD",
    "VG",
    "V",
    "VS",
    "COE",
    "MEG",
    "TCG",
    "CA",
    "CCP",
    "APY",
    "MCS",
    "MCG",
    "MTA",
    "ALQP",
    "K",
    "KC",
    "AMI",
    "AMK",
)
_CODE = re.compile(
    r"(?<![A-Za-z0-9])(" + "|".join(sorted(NGAP, key=len, reverse=True)) + r"|[A-Z]{4}\d{3})(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_ACT_ZONE = re.compile(r"code de l.acte|code acte|\bactes?\b.{0,20}montant|montant")


def _act_codes(page: Page, start: int) -> list[tuple[str, int, int]]:
    codes = []
    for ln in page.lines[page.line_at(start) :]:
        if _TOTAL.search(page.norm[ln.start : ln.end]):
            break
        line_dates = checks.dates(page, ln.start, ln.end)
        if not line_dates:
            continue
        for m in _CODE.finditer(page.text, line_dates[0].end, ln.end):
            codes.append((m.group(1).upper(), m.start(), m.end()))
            break
    return codes


def acts_and_total(pages: list[Page]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    for page in pages:
        zone = _ACT_ZONE.search(page.norm)
        if not zone:
            continue
        zone_start = page.lines[page.line_at(zone.start())].start
        found = checks.amounts(page, zone_start)
        if not found:
            continue
        total, total_conf = None, 0.0
        for m in _TOTAL.finditer(page.norm, zone_start):
            ln = page.lines[page.line_at(m.start())]
            after = [a for a in found if m.end() <= a.start <= ln.end]
            if after:
                total, total_conf = after[0], 0.9
                break
        rest = [a for a in found if a is not total]
        if total is None:
            for cand in sorted(found, key=lambda a: a.value, reverse=True):
                others = [a for a in found if a is not cand]
                if others and abs(sum(a.value for a in others) - cand.value) < 0.005:
                    total, total_conf, rest = cand, 0.85, others
                    break
        elif rest and abs(sum(a.value for a in rest) - total.value) >= 0.005:
            total_conf = 0.6  # labelled, but the acts do not add up: ask the user
        if total is None and len(found) == 1:
            total, total_conf, rest = found[0], 0.6, found
        codes = _act_codes(page, zone_start)
        acts = []
        for i, amount in enumerate(rest):
            code = codes[i] if len(codes) == len(rest) else None
            acts.append(
                {
                    "code": located(code[0], 0.8, page, code[1], code[2]) if code else None,
                    "amount": located(amount.value, 0.85 if amount.currency else 0.7, page, amount.start, amount.end),
                }
            )
        return acts, (located(total.value, total_conf, page, total.start, total.end) if total else None)
    return [], None


def extract(pages: list[Page], today: _dt.date) -> dict[str, Any]:
    acts, total = acts_and_total(pages)
    return {
        "care_date": common.labelled_date(pages, today, _DATE_LABEL),
        "practitioner_name": common.doctor_name(pages, _PRACTITIONER),
        "rpps": common.rpps(pages),
        "acts": acts,
        "total_amount": total,
    }
