"""The one NIR detector (French social-security number): find it in any layout, mask it, keep other numbers.

It lives in ``models/`` (standard library only) so that a migration can re-mask rows already stored without
``models`` importing ``worker``; ``worker.privacy`` re-exports it for every other caller.

A NIR is 13 characters — sex, year, month, département (Corsica ``2A``/``2B``; overseas ``97x``/``98x`` take
one commune digit), commune, order — plus a 2-digit key = 97 − (number mod 97), with 2A → 19 and 2B → 18.

How a candidate is found (the text is first folded one character for one, so offsets stay right: any Unicode
decimal digit → ASCII, fullwidth forms → ASCII, Unicode spaces → space, dashes → ``-``):

- the groups follow each other with any run of ``[\\s./()-]`` between them (line breaks, tabs, NBSP, narrow
  NBSP, ``/ 41``, ``(41)``), and never inside a group: an RPPS (11 digits in one run) or a phone number (pairs
  of digits) cannot be cut into NIR groups; ``clé``/``cle``/``key`` may stand before the key;
- it starts where no digit precedes it (a glued prefix such as ``NIR185…`` is fine) and OCR look-alikes
  (``O``/``o`` → 0, ``I``/``l``/``L`` → 1) count as digits, at most three of them;
- **with a key that checks** it is a NIR when the sex is 1/2/3/4/7/8 and the month plausible;
- **without a key** (none, or one that does not check: then it is not a key) the 13 characters alone must not
  run on into a digit and must have the whole structure: sex 1/2/3/4/7/8, month 01–12 or the ranges used when
  it is unknown (20–42, 50–99), département 01–95, 2A, 2B, 971–978, 984–989 or 99, commune 001–990 (overseas
  01–99), order 001–999; and an unbroken 13-digit run starting with 3 whose EAN-13 check digit is right is a
  product code (CIP13 ``34009…``, ACL13), not a NIR.

The masked form keeps sex, year and month only (``1 85 03 ** *** *** **``); masking is idempotent.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

_D = "[0-9OoIlL]"  # a digit or an OCR look-alike; a real digit must come after at most three look-alikes
_SEP = r"[\s\u00a0\u202f\u00b7./()_\-]*"
# Before the key only, also the punctuation a label or a list puts there (", clé 41", "; 41", "[41]", "clé = 41").
_KEY_SEP = r"[\s\u00a0\u202f\u00b7./()_\-,;=\[\]]*"
# Each optional piece starts with something a separator is not, so no run of separators can be split two ways
# (a quadratic backtrack on long runs of spaces).
_KEY_LABEL = rf"(?:(?i:cl[eé]|key)(?:\s*[:=])?{_KEY_SEP})?"
NIR_PATTERN = re.compile(
    rf"(?P<sex>[123478IlL])(?<![0-9].)(?=(?:{_SEP}[OoIlL]){{0,3}}{_SEP}[0-9]){_SEP}(?P<year>{_D}{{2}}){_SEP}(?P<month>{_D}{{2}}){_SEP}"
    rf"(?:(?P<dom>9[78]{_D}){_SEP}(?P<domc>{_D}{{2}})|(?P<dept>{_D}{{2}}|2[ ]?[AaBb]){_SEP}(?P<commune>{_D}{{3}}))"
    rf"{_SEP}(?P<order>{_D}{{3}})"
    rf"(?:{_KEY_SEP}{_KEY_LABEL}(?P<key>[0-9]{{2}})(?![0-9]))?"
)
_OCR_DIGITS = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1", "L": "1"})
_OCR_LETTERS = frozenset("OoIlL")
_MAX_LOOKALIKES = 3
_SEXES = frozenset("123478")
# Characters that may fold to something else: not ASCII, not the accented Latin letters of French text.
_FOLDABLE = re.compile(r"[^\x00-\x7f\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]")
MASKED_PATTERN = re.compile(r"[1-8] ?\d\d ?\d\d ?\*\* ?\*\*\* ?\*\*\* ?\*\*")


@dataclass(frozen=True)
class NirMatch:
    start: int
    end: int
    masked: str
    keyed: bool = True  # False: recognised by its structure alone (no key, or one that does not check)


@functools.lru_cache(maxsize=8192)
def _fold_char(ch: str) -> str:
    """One character for one: what the detector reads in place of ``ch`` (offsets never move)."""
    digit = unicodedata.decimal(ch, None)
    if digit is not None:
        return str(digit)
    code = ord(ch)
    if 0xFF01 <= code <= 0xFF5E:  # fullwidth ASCII forms
        return chr(code - 0xFEE0)
    category = unicodedata.category(ch)
    if category == "Zs" or ch in "\u2028\u2029":
        return " "
    if category == "Pd" or ch == "\u2212":
        return "-"
    if ch in "\u2044\u2215":
        return "/"
    return ch


def fold(text: str) -> str:
    """``text`` as the detector reads it: same length, Unicode digits/spaces/dashes/fullwidth forms as ASCII."""
    if text.isascii() or not _FOLDABLE.search(text):
        return text
    return _FOLDABLE.sub(lambda m: _fold_char(m.group()), text)


def _number(body13: str) -> int | None:
    body = body13.upper()
    if len(body) != 13:
        return None
    if body[5:7] == "2A":
        body = body[:5] + "19" + body[7:]
    elif body[5:7] == "2B":
        body = body[:5] + "18" + body[7:]
    return int(body) if body.isdigit() else None


def nir_key_valid(body13: str, key: str) -> bool:
    """Check a 13-character NIR body (Corsica letters allowed) against its 2-digit key."""
    number = _number(body13)
    if number is None or len(key) != 2 or not key.isdigit():
        return False
    return 97 - (number % 97) == int(key)


def _month_ok(month: str) -> bool:
    m = int(month)
    return 1 <= m <= 12 or 20 <= m <= 42 or m >= 50


def plausible_body(body13: str) -> bool:
    """The whole structure of a NIR body (see the module doc): what a body without a key must have."""
    body = body13.upper()
    if _number(body) is None or body[0] not in _SEXES or not _month_ok(body[3:5]):
        return False
    dept = body[5:7]
    if dept in ("97", "98"):
        overseas = int(body[5:8])
        commune_ok = (971 <= overseas <= 978 or 984 <= overseas <= 989) and int(body[8:10]) >= 1
    elif dept in ("2A", "2B") or 1 <= int(dept) <= 95 or dept == "99":
        commune_ok = 1 <= int(body[7:10]) <= 990
    else:
        return False
    return commune_ok and 1 <= int(body[10:13]) <= 999


def _ean13_valid(digits: str) -> bool:
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(digits[:12]))
    return (10 - total % 10) % 10 == int(digits[12])


def mask(body13: str) -> str:
    """Masked display form: sex and birth year/month kept, the rest hidden (``1 85 03 ** *** *** **``)."""
    b = body13.upper()
    return f"{b[0]} {b[1:3]} {b[3:5]} ** *** *** **"


def _judge(text: str, m: re.Match[str]) -> NirMatch | None:
    """The candidate ``m`` (in the folded ``text``) as a NIR, or None (rules in the module doc)."""
    start = m.start()
    groups = [m["sex"], m["year"], m["month"]]
    groups += [m["dom"], m["domc"]] if m["dom"] is not None else [m["dept"].replace(" ", ""), m["commune"]]
    groups.append(m["order"])
    raw = "".join(groups)
    if sum(c in _OCR_LETTERS for c in raw) > _MAX_LOOKALIKES:
        return None
    if raw[0] in _OCR_LETTERS and start and text[start - 1].isalnum():
        return None  # a letter inside a word, not a sex digit
    body = raw.translate(_OCR_DIGITS).upper()
    if body[0] not in _SEXES or not body[3:5].isdigit() or not _month_ok(body[3:5]):
        return None
    key = m["key"]
    if key is not None and nir_key_valid(body, key):
        return NirMatch(start, m.end(), mask(body), True)
    end = m.end("order")
    if end < len(text) and text[end].isdigit():
        return None  # runs on into a longer number
    if not plausible_body(body):
        return None
    if body[0] == "3" and text[start:end].isdigit() and _ean13_valid(body):
        return None  # a product code (CIP13 / ACL13 / EAN-13 of the French GS1 range)
    return NirMatch(start, end, mask(body), False)


def find_nirs(text: str) -> list[NirMatch]:
    """Every NIR in ``text`` (any layout of the module doc, OCR noise tolerated), with its masked form."""
    folded = fold(text)
    found: list[NirMatch] = []
    pos = 0
    while True:
        m = NIR_PATTERN.search(folded, pos)
        if m is None:
            return found
        hit = _judge(folded, m)
        if hit is None:
            pos = m.start() + 1  # a later start may still begin inside a refused candidate
        else:
            found.append(hit)
            pos = hit.end


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


def mask_across(texts: list[str], sep: str) -> tuple[list[str], list[str]]:
    """Mask the NIRs that only exist once ``texts`` are joined by ``sep`` (a number split over a page break):
    the part in the first text becomes the masked form, the parts in the following texts are removed, so the
    texts joined again equal the joined text masked. Each text is expected masked on its own already."""
    joined = sep.join(texts)
    starts, pos = [], 0
    for t in texts:
        starts.append(pos)
        pos += len(t) + len(sep)
    out, found = list(texts), []
    for m in reversed(find_nirs(joined)):  # from the end: earlier offsets stay valid
        first = max(i for i, s in enumerate(starts) if s <= m.start)
        last = max(i for i, s in enumerate(starts) if s < m.end)
        if first == last:
            continue
        for i in range(last, first, -1):
            out[i] = out[i][max(0, m.end - starts[i]) :] if i == last else ""
        out[first] = out[first][: m.start - starts[first]] + m.masked
        found.append(m.masked)
    return out, found[::-1]


def mask_text(text: str) -> str:
    """``text`` with every NIR masked (the form for names, paths, messages)."""
    return mask_nirs(text)[0]


def contains_nir(text: str) -> bool:
    return bool(find_nirs(text))


def scrub(value: Any, numbers: bool = True) -> Any:
    """A JSON-like value with every NIR masked in every string and object key, and (``numbers``) in whole numbers
    of 13 digits or more, which become their masked string. Lists, tuples and dicts are walked."""
    if isinstance(value, str):
        return mask_text(value)
    if numbers and isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**12:
        masked = mask_text(str(value))
        return value if masked == str(value) else masked
    if isinstance(value, dict):
        return {scrub(k) if isinstance(k, str) else k: scrub(v, numbers) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, numbers) for v in value]
    return value
