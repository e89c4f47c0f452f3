"""ALTO XML (Tesseract's ``alto`` output): ``Page`` → ``TextBlock`` → ``TextLine`` → ``String`` (``WC`` 0–1)."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from worker.ingest.model import Page, ParsedDocument, ParseError, mean
from worker.ingest.xmlsafe import local, parse_xml


def _confidence(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return min(max(value, 0.0), 1.0) if value is not None else None


def _page(el: Element, number: int) -> Page:
    confidences: list[float] = []
    words = 0
    blocks = []
    for block in (e for e in el.iter() if local(e.tag) == "TextBlock"):
        lines = []
        for line in (e for e in block if local(e.tag) == "TextLine"):
            strings = [s for s in line if local(s.tag) == "String" and (s.get("CONTENT") or "").strip()]
            words += len(strings)
            confidences += [c for c in (_confidence(s.get("WC")) for s in strings) if c is not None]
            if strings:
                lines.append(" ".join(s.get("CONTENT", "").strip() for s in strings))
        if lines:
            blocks.append("\n".join(lines))
    return Page(number, "\n\n".join(blocks), mean(confidences), words)


def _engine(root: Element) -> dict[str, str] | None:
    for el in root.iter():
        if local(el.tag) == "softwareName" and (el.text or "").strip():
            name, _, version = el.text.strip().partition(" ")
            return {"name": name[:64], "version": version[:64]} if version else {"name": name[:64]}
    return None


def parse_alto(text: str) -> ParsedDocument:
    """Read an ALTO document; one without a ``Page`` is refused."""
    root = parse_xml(text)
    if local(root.tag) != "alto":
        raise ParseError("invalid_alto", "the root element is not <alto>")
    pages = [_page(el, i + 1) for i, el in enumerate(e for e in root.iter() if local(e.tag) == "Page")]
    if not pages:
        raise ParseError("invalid_alto", "ALTO without any Page")
    return ParsedDocument(format="alto", pages=pages, engine=_engine(root))
