"""Which format is this file? Decided from the content; the file name is only a hint.

The bytes are decoded first (UTF-8, a UTF-8 or UTF-16 byte-order mark honoured), binary content
is refused, then the text is recognised by its first characters: ``{`` canonical JSON, an hOCR or
ALTO document, Tesseract's TSV header, else plain text. A name that promises a structured format
(``.json``, ``.hocr``, ``.xml``, ``.tsv``) whose content is something else is refused rather than
stored as text: it is a broken file, not a note.
"""

from __future__ import annotations

import codecs
import re

from worker.ingest.parsed import ParseError
from worker.ocr.sniff import media_kind

TSV_HEADER = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
_HINTS = {
    ".json": "json",
    ".hocr": "hocr",
    ".html": "hocr",
    ".htm": "hocr",
    ".xml": "xml",
    ".alto": "alto",
    ".tsv": "tsv",
    ".txt": "text",
    ".text": "text",
}
_SNIFF_CHARS = 4096
# the root element of ALTO, with or without a namespace prefix (``<alto:alto``, ``<ns0:alto`` as ElementTree writes)
_ALTO_ROOT = re.compile(r"<(?:[a-z_][\w.-]*:)?alto[\s/>]")
# hOCR's metadata names and the classes of its pages and lines, whichever engine wrote it
_HOCR_MARKS = ("ocr_page", "ocr-system", "ocrx_word", "ocr-capabilities", "ocr_line", "ocr_carea", "ocr_par")


def hint_from_name(name: str) -> str | None:
    """Format suggested by the file name (case-insensitive), or None."""
    lower = name.lower()
    if lower.endswith(".alto.xml"):
        return "alto"
    dot = lower.rfind(".")
    return _HINTS.get(lower[dot:]) if dot >= 0 else None


def decode(data: bytes) -> str:
    """Bytes to text: UTF-8 (BOM stripped) or BOM-marked UTF-16; binary or other encodings refused."""
    if not data:
        raise ParseError("empty", "empty file")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
        encoding = "utf-8"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ParseError("not_utf8", f"not valid {encoding.upper()} text (byte {exc.start})") from None
    if "\x00" in text:
        raise ParseError("binary", "binary content (NUL characters)")
    if not text.strip():
        raise ParseError("empty", "no text (only whitespace)")
    return text


def sniff(text: str, hint: str | None) -> str:
    """The format of ``text``: "json", "hocr", "alto", "tsv" or "text" (ParseError on a mismatch)."""
    head = text.lstrip()[:_SNIFF_CHARS]
    if head.startswith("{") and hint in (None, "json"):
        return "json"
    if head.startswith("<"):
        lower = head.lower()
        if "alto" in lower and _ALTO_ROOT.search(lower):
            return "alto"
        if any(mark in lower for mark in _HOCR_MARKS):
            return "hocr"
        if hint == "text":
            return "text"
        raise ParseError("unknown_markup", "markup that is neither hOCR nor ALTO")
    if head.startswith(TSV_HEADER.split("\t", 3)[0] + "\tpage_num\t"):
        return "tsv"
    if hint in (None, "text"):
        return "text"
    raise ParseError("format_mismatch", f"the name says {hint} but the content is not")


# Binary formats recognised by their first bytes (what the OCR stage will take; refused until it lands).
_MAGIC = (  # binary files no stage takes (images and PDFs: worker.ocr.sniff.media_kind)
    (b"GIF8", "gif"),
    (b"PK\x03\x04", "zip"),
)


def head_type(head: bytes) -> str:
    """The type the first bytes of a file announce, without parsing it: an OCR stage input (``media_kind``:
    "png", "jpeg", "tiff", "webp", "heif", "pdf"), a text format ("json", "hocr", "alto", "tsv", "text", or
    "markup" for other markup), else another binary one ("gif", "zip", "binary").

    Used at submission time to refuse what ingestion can never take before anything is written; a text file
    that later fails to parse is rejected by ingestion, with its reason.
    """
    kind = media_kind(head)  # the OCR stage's inputs: one rule (worker.ocr.sniff)
    if kind is not None:
        return kind
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = head[:_SNIFF_CHARS].decode("utf-16", errors="ignore")
    else:
        if b"\x00" in head[:_SNIFF_CHARS]:
            return "binary"
        text = head[:_SNIFF_CHARS].decode("utf-8", errors="ignore")
    try:
        return sniff(text, None)
    except ParseError:
        return "markup"
