"""Plain UTF-8 text: pages separated by form feeds (what ``tesseract … txt`` writes), no confidence."""

from __future__ import annotations

from worker.ingest.parsed import Page, ParsedDocument, count_words


def parse_text(text: str) -> ParsedDocument:
    chunks = text.replace("\r\n", "\n").split("\f")
    while len(chunks) > 1 and not chunks[-1].strip():
        chunks.pop()  # Tesseract ends every page with a form feed
    pages = [Page(i + 1, chunk.strip("\n"), None, count_words(chunk)) for i, chunk in enumerate(chunks)]
    return ParsedDocument(format="text", pages=pages)
