"""What every parser returns: pages of text with confidence and word counts, plus metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PAGE_SEPARATOR = "\n\n"  # between pages in a document's text


class ParseError(ValueError):
    """The content is not a valid document of its format. ``reason`` is a short code; the
    message never quotes the content (it is health data)."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass
class Page:
    number: int
    text: str
    confidence: float | None = None  # 0..1, mean word confidence where the format has it
    words: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "text": self.text, "confidence": self.confidence, "words": self.words}


@dataclass
class ParsedDocument:
    format: str  # "json", "hocr", "tsv", "alto", "text"
    pages: list[Page]
    engine: dict[str, str] | None = None
    user_id: str | None = None  # canonical JSON only
    source_filename: str | None = None
    document_type_hint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return PAGE_SEPARATOR.join(p.text for p in self.pages)

    @property
    def words(self) -> int:
        return sum(p.words for p in self.pages)


def mean(values: list[float]) -> float | None:
    """Mean rounded to 3 decimals, None when there is nothing to average."""
    return round(sum(values) / len(values), 3) if values else None


def engine_from(text: str) -> dict[str, str]:
    """An engine named with its version in one string: ``tesseract 5.3.0``, ``ABBYY FineReader 11.0`` (the
    version is the last word when it starts with a digit); a name without a version stays whole."""
    text = text.strip()
    name, _, version = text.rpartition(" ")
    if not name or not version[:1].isdigit():
        return {"name": text[:64]}
    return {"name": name.rstrip()[:64], "version": version[:64]}


def count_words(text: str) -> int:
    return len(text.split())
