"""OCR text prepared for matching: same-length normalised views, lines, and located fields.

Every extractor searches a normalised copy of a page (accents dropped,
lowercase, O/0 and l/1 look-alikes inside numbers turned into digits) that has
exactly the length of the original, so a match's character span is also its
span in the stored page text — the app can highlight it and ask the user to
confirm. Values shown to people (names) are cut from the original text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# Characters OCR confuses with digits, and the digit they stand for inside a number.
_LOOKALIKES = {"O": "0", "o": "0", "l": "1", "I": "1", "|": "1"}
_RUN = re.compile(r"[0-9OolI|]+")


def fold(text: str) -> str:
    """Lowercase, accents dropped, one character for one character (spans survive)."""
    out = []
    for ch in text:
        base = unicodedata.normalize("NFD", ch)[0] if ord(ch) > 127 else ch
        low = base.lower()
        out.append(low if len(low) == 1 else base)
    return "".join(out)


def digitize(text: str) -> str:
    """Turn look-alike letters into digits inside runs that are numbers (``1O18l5`` → ``101815``).

    A run counts as a number when it holds at least as many real digits as look-alikes
    (or sits next to a digit group) and is not glued to other letters, so words (``Il``, ``SOINS``) are left alone.
    """
    chars = list(text)
    for m in _RUN.finditer(text):
        run = m.group()
        digits = sum(c.isdigit() for c in run)
        before = text[m.start() - 1] if m.start() else " "
        after = text[m.end()] if m.end() < len(text) else " "
        # A digit group next to it (``1OOO 345 6786``) says this run is part of a number too.
        grouped = (text[m.end() : m.end() + 2][-1:].isdigit() and after == " ") or (
            m.start() >= 2 and before == " " and text[m.start() - 2].isdigit()
        )
        if digits == 0 or (digits < len(run) - digits and not grouped):
            continue
        if before.isalpha() or after.isalpha():
            continue
        for i, c in enumerate(run, m.start()):
            chars[i] = _LOOKALIKES.get(c, c)
    return "".join(chars)


@dataclass(frozen=True)
class Line:
    start: int
    end: int


@dataclass
class Page:
    """One page: original text, its same-length normalised view and its lines."""

    number: int
    text: str
    norm: str = ""
    lines: list[Line] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.norm = fold(digitize(self.text))
        pos = 0
        for raw in self.text.split("\n"):
            if raw.strip():
                self.lines.append(Line(pos, pos + len(raw)))
            pos += len(raw) + 1

    def line_at(self, offset: int) -> int:
        """Index of the line holding ``offset`` (or the next one)."""
        for i, ln in enumerate(self.lines):
            if offset <= ln.end:
                return i
        return max(len(self.lines) - 1, 0)

    def line_norm(self, index: int) -> str:
        ln = self.lines[index]
        return self.norm[ln.start : ln.end]


def prepare(pages: list[dict[str, Any]]) -> list[Page]:
    """Pages as stored (``[{number, text, ...}]``) → :class:`Page` objects, in order."""
    out = []
    for i, p in enumerate(pages):
        out.append(Page(int(p.get("number") or i + 1), str(p.get("text") or "")))
    return out


def iter_lines(pages: list[Page]) -> Iterator[tuple[Page, int, Line]]:
    for page in pages:
        for i, ln in enumerate(page.lines):
            yield page, i, ln


def located(value: Any, confidence: float, page: Page, start: int, end: int) -> dict[str, Any]:
    """A field value with its confidence and where it was read (page number, character span)."""
    return {
        "value": value,
        "confidence": round(max(0.0, min(confidence, 1.0)), 2),
        "page": page.number,
        "span": [start, end],
    }


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Levenshtein distance, giving up (returning ``limit + 1``) once it exceeds ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]
