"""NIR (French social-security number) detection and masking — applied before anything is stored.

A NIR is 13 characters (sex, year, month, département incl. Corsica 2A/2B,
commune, order) plus a 2-digit key = 97 − (number mod 97), with 2A → 19 and
2B → 18 in the computation. OCR prints it with or without spaces and swaps
O/0, l/1, so candidates are normalised before the key is checked; only
key-valid candidates are masked, which keeps other long numbers intact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# 15 NIR characters, each optionally followed by spaces/dots/dashes; OCR look-alikes allowed.
_CH = r"[0-9OoIlL]"
_DEPT = r"(?:[0-9OoIlL]{2}|2\s?[AaBb])"
_SEP = r"[ .\-]?"
NIR_PATTERN = re.compile(
    r"(?<![0-9A-Za-z])"
    rf"([12lI]){_SEP}({_CH}{{2}}){_SEP}({_CH}{{2}}){_SEP}({_DEPT}){_SEP}({_CH}{{3}}){_SEP}({_CH}{{3}}){_SEP}({_CH}{{2}})"
    r"(?![0-9A-Za-z])"
)
_OCR_DIGITS = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1", "L": "1"})


@dataclass(frozen=True)
class NirMatch:
    start: int
    end: int
    masked: str


def _digits(part: str) -> str:
    return part.translate(_OCR_DIGITS).replace(" ", "")


def nir_key_valid(body13: str, key: str) -> bool:
    """Check a 13-character NIR body (Corsica letters allowed) against its 2-digit key."""
    body = body13.upper()
    if len(body) != 13 or not key.isdigit():
        return False
    if body[5:7] == "2A":
        number = int(body[:5] + "19" + body[7:])
    elif body[5:7] == "2B":
        number = int(body[:5] + "18" + body[7:])
    elif body.isdigit():
        number = int(body)
    else:
        return False
    return 97 - (number % 97) == int(key)


def mask(body13: str) -> str:
    """Masked display form: sex and birth year/month kept, the rest hidden (``1 85 03 ** *** *** **``)."""
    b = body13.upper()
    return f"{b[0]} {b[1:3]} {b[3:5]} ** *** *** **"


def find_nirs(text: str) -> list[NirMatch]:
    """Every key-valid NIR in ``text`` (OCR noise tolerated), with its masked form."""
    found = []
    for m in NIR_PATTERN.finditer(text):
        sex, year, month, dept, commune, order, key = (_digits(g) for g in m.groups())
        dept = dept.upper()
        month_ok = month.isdigit() and (1 <= int(month) <= 12 or 20 <= int(month) <= 42 or int(month) >= 50)
        body = sex + year + month + dept + commune + order
        if month_ok and nir_key_valid(body, key):
            found.append(NirMatch(m.start(), m.end(), mask(body)))
    return found


def mask_nirs(text: str) -> tuple[str, list[str]]:
    """``text`` with every NIR replaced by its masked form, and the masked forms found."""
    matches = find_nirs(text)
    if not matches:
        return text, []
    out, last = [], 0
    for m in matches:
        out.append(text[last : m.start])
        out.append(m.masked)
        last = m.end
    out.append(text[last:])
    return "".join(out), [m.masked for m in matches]
