"""The child's pages → the :class:`ParsedDocument` ingestion stores, through the existing hOCR parser.

So an OCRed photo has exactly the pages, per-page confidence (mean word ``x_wconf``), word counts, NIR
masking and analysis of the same page dropped as Tesseract hOCR. Pages read from a PDF's text layer keep
their text as it is (no confidence: nothing was recognised). The OCR facts go to ``meta["ocr"]``.
"""

from __future__ import annotations

from typing import Any

from worker.config import Settings
from worker.ingest.hocr import parse_hocr
from worker.ingest.parse import mask_pages
from worker.ingest.parsed import Page, ParsedDocument, count_words
from worker.ocr import tesseract
from worker.ocr.run import ChildResult


def assemble(result: ChildResult, kind: str, settings: Settings) -> ParsedDocument:
    """One document from the child's pages (numbered in input order), NIRs masked."""
    pages: list[Page] = []
    described: list[dict[str, Any]] = []
    totals = {"prepare": 0.0, "wait": 0.0, "ocr": 0.0, "decode": 0.0}
    for line in sorted(result.pages, key=lambda p: int(p["page"])):
        number = len(pages) + 1
        if line["source"] == "text_layer":
            text = str(line["text"]).strip()
            pages.append(Page(number, text, None, count_words(text)))
        else:
            parsed = parse_hocr(str(line["hocr"]))
            first = parsed.pages[0] if parsed.pages else Page(number, "", None, 0)
            pages.append(Page(number, first.text, first.confidence, first.words))
            for name in totals:
                totals[name] += float(line.get("ms", {}).get(name, 0.0))
        described.append({"number": number, "source": line["source"]} | dict(line.get("info") or {}))
    ocred = any(d["source"] == "ocr" for d in described)
    engine = {"name": "tesseract", "version": tesseract.version()} if ocred else {"name": "pdf_text_layer"}
    doc = ParsedDocument(format=kind, pages=pages, engine=engine)
    masked = mask_pages(doc)
    meta: dict[str, Any] = {
        "engine": "tesseract" if ocred else None,
        "version": tesseract.version() if ocred else None,
        "languages": settings.ocr_langs,
        "psm": int(tesseract.PSM),
        "dpi": settings.ocr_dpi,
        "pages": described,
        "no_text": not any(p.text.strip() for p in pages),
        "timings_ms": {k: round(v, 1) for k, v in totals.items()} | {"child": round(result.ms, 1)},
    }
    meta.update({k: v for k, v in result.facts.items() if v})
    doc.extra.update(nirs_masked=masked, ocr=meta)
    return doc
