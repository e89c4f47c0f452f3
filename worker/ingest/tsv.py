"""Tesseract TSV: one row per layout element; level-5 rows are words with ``conf`` (0–100, -1 = none).

The header starts with Tesseract's twelve columns; tools that post-process it may add columns after ``text``
(named in the header) or leave trailing empty cells: the first twelve cells are read, the rest ignored.
"""

from __future__ import annotations

from collections import defaultdict

from worker.ingest.parsed import Page, ParsedDocument, ParseError, mean
from worker.ingest.sniff import TSV_HEADER

_COLUMNS = len(TSV_HEADER.split("\t"))


def _row(cells: list[str], lineno: int) -> tuple[int, tuple[int, int, int, int], float, str]:
    try:
        level, page, block, par, line = map(int, cells[:5])
        conf = float(cells[10])
    except ValueError:
        raise ParseError("invalid_tsv", f"TSV line {lineno}: a number column is not a number") from None
    return level, (page, block, par, line), conf, cells[11]


def _twelve(cells: list[str], columns: int, lineno: int) -> list[str]:
    """The twelve Tesseract cells of a row that has fewer or more: Tesseract drops the empty text cell of
    layout rows; extra columns (``columns`` in the header) and trailing empty cells are ignored."""
    if len(cells) == _COLUMNS - 1:
        return cells + [""]
    if len(cells) > _COLUMNS and (len(cells) <= columns or not any(cells[columns:])):
        return cells[:_COLUMNS]
    raise ParseError("invalid_tsv", f"TSV line {lineno}: expected {columns} columns, got {len(cells)}")


def parse_tsv(text: str) -> ParsedDocument:
    """Rebuild lines (same page/block/paragraph/line) and paragraphs (blank line between) from word rows."""
    rows = text.splitlines()
    header = rows[0].rstrip("\r") if rows else ""
    if header != TSV_HEADER and not header.startswith(TSV_HEADER + "\t"):
        raise ParseError("invalid_tsv", "missing the Tesseract TSV header")
    columns = max(len(header.rstrip("\t").split("\t")), _COLUMNS)
    lines: dict[tuple[int, int, int, int], list[str]] = defaultdict(list)
    confidences: dict[int, list[float]] = defaultdict(list)
    pages_seen: set[int] = set()
    for lineno, raw in enumerate(rows[1:], start=2):
        if not raw.strip():
            continue
        cells = raw.rstrip("\r").split("\t")
        if len(cells) != _COLUMNS:
            cells = _twelve(cells, columns, lineno)
        level, key, conf, word = _row(cells, lineno)
        if key[0] < 1:
            raise ParseError("invalid_tsv", f"TSV line {lineno}: page numbers start at 1")
        pages_seen.add(key[0])
        if level == 5 and word.strip():
            lines[key].append(word.strip())
            if conf >= 0:
                confidences[key[0]].append(min(conf / 100.0, 1.0))
    if not pages_seen:
        raise ParseError("invalid_tsv", "TSV without any row")
    texts: dict[int, list[str]] = defaultdict(list)
    previous: dict[int, tuple[int, int, int, int]] = {}
    for key in sorted(lines):
        page = key[0]
        if page in previous and previous[page][:3] != key[:3]:
            texts[page].append("")
        texts[page].append(" ".join(lines[key]))
        previous[page] = key
    pages = [
        Page(n, "\n".join(texts[n]), mean(confidences[n]), sum(len(lines[k]) for k in lines if k[0] == n))
        for n in sorted(pages_seen)
    ]
    return ParsedDocument(format="tsv", pages=pages, engine={"name": "tesseract"})
