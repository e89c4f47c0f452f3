"""Tesseract hOCR: pages (``ocr_page``), lines, words with ``x_wconf`` (0–100) as confidence."""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element

from worker.ingest.model import Page, ParsedDocument, ParseError, mean
from worker.ingest.xmlsafe import local, parse_xml

_WCONF = re.compile(r"x_wconf\s+(-?\d+(?:\.\d+)?)")
_LINE_CLASSES = {"ocr_line", "ocr_header", "ocr_caption", "ocr_textfloat"}


def _classes(el: Element) -> set[str]:
    return set((el.get("class") or "").split())


def _line_text(line: Element, confidences: list[float]) -> str:
    words = []
    for w in line.iter():
        if "ocrx_word" in _classes(w):
            word = "".join(w.itertext()).strip()
            if word:
                words.append(word)
                m = _WCONF.search(w.get("title") or "")
                if m:
                    confidences.append(min(max(float(m.group(1)) / 100.0, 0.0), 1.0))
    return " ".join(words)


def _page(el: Element, number: int) -> Page:
    confidences: list[float] = []
    blocks, current = [], []
    for node in el.iter():
        cls = _classes(node)
        if "ocr_par" in cls:
            if current:
                blocks.append("\n".join(current))
            current = []
        elif cls & _LINE_CLASSES:
            text = _line_text(node, confidences)
            if text:
                current.append(text)
    if current:
        blocks.append("\n".join(current))
    text = "\n\n".join(blocks)
    return Page(number, text, mean(confidences), len(confidences) or len(text.split()))


def _engine(root: Element) -> dict[str, str] | None:
    for meta in root.iter():
        if local(meta.tag) == "meta" and meta.get("name") == "ocr-system":
            name, _, version = (meta.get("content") or "").partition(" ")
            return {"name": name[:64], "version": version[:64]} if version else {"name": name[:64]}
    return None


def parse_hocr(text: str) -> ParsedDocument:
    """Read an hOCR document; a document without any ``ocr_page`` is refused."""
    root = parse_xml(text)
    pages = [_page(el, i + 1) for i, el in enumerate(e for e in root.iter() if "ocr_page" in _classes(e))]
    if not pages:
        raise ParseError("invalid_hocr", "hOCR without any ocr_page")
    return ParsedDocument(format="hocr", pages=pages, engine=_engine(root))
