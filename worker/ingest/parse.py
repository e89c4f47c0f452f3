"""Bytes in, a privacy-scrubbed :class:`ParsedDocument` out: decode, sniff, parse, mask NIRs, time it."""

from __future__ import annotations

import time
from collections.abc import Callable

from worker.ingest.alto import parse_alto
from worker.ingest.canonical import parse_canonical
from worker.ingest.hocr import parse_hocr
from worker.ingest.parsed import PAGE_SEPARATOR, ParsedDocument, ParseError
from worker.ingest.plaintext import parse_text
from worker.ingest.sniff import decode, hint_from_name, sniff
from worker.ingest.tsv import parse_tsv
from worker.ocr.sniff import HEAD_BYTES, media_kind
from worker.privacy import mask_across, mask_nirs, mask_text, scrub

PARSERS: dict[str, Callable[[str], ParsedDocument]] = {
    "json": parse_canonical,
    "hocr": parse_hocr,
    "alto": parse_alto,
    "tsv": parse_tsv,
    "text": parse_text,
}


def guess_format(data: bytes, name: str) -> str | None:
    """Best guess for a quarantine sidecar (never raises)."""
    kind = media_kind(data[:HEAD_BYTES])
    if kind:
        return kind
    try:
        return sniff(decode(data), hint_from_name(name))
    except ParseError:
        return hint_from_name(name)


def mask_pages(doc: ParsedDocument) -> int:
    """Mask the NIRs of every page in place (before anything can store it); how many were masked."""
    masked = 0
    for page in doc.pages:
        page.text, found = mask_nirs(page.text)
        masked += len(found)
    if len(doc.pages) > 1:  # a number split over a page break: in no page alone, in the document's text
        texts, found = mask_across([p.text for p in doc.pages], PAGE_SEPARATOR)
        for page, text in zip(doc.pages, texts):
            page.text = text
        masked += len(found)
    doc.engine = scrub(doc.engine)
    doc.source_filename = None if doc.source_filename is None else mask_text(doc.source_filename)
    doc.document_type_hint = None if doc.document_type_hint is None else mask_text(doc.document_type_hint)
    return masked


def parse_document(data: bytes, name: str) -> ParsedDocument:
    """Parse ``data`` (file name ``name`` as a hint); ParseError when it is not a usable document.

    Every page's text has its NIRs masked here, before anything can store it, and so have the strings the
    document says about itself (source file name, type hint, engine).
    """
    t0 = time.perf_counter()
    text = decode(data)
    fmt = sniff(text, hint_from_name(name))
    doc = PARSERS[fmt](text)
    masked = mask_pages(doc)
    if not any(p.text.strip() for p in doc.pages) and fmt != "json":
        raise ParseError("no_text", f"{fmt} document without any text")
    doc.extra.update(nirs_masked=masked, parse_ms=round((time.perf_counter() - t0) * 1000, 2))
    return doc
