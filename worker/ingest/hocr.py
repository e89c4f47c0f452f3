"""hOCR from any engine: pages (``ocr_page``), paragraphs, lines, words with ``x_wconf`` (0–100) as confidence.

Read as XML first (Tesseract's XHTML, the fast path); a file the XML parser refuses is read again as HTML
(``worker/ingest/htmlsafe.py``), into the same target, so the same content gives the same document. A line
with ``ocrx_word`` elements is its words; a line without any (OCRopus/ocropy writes its text straight into
``ocr_line``) is its text, whitespace collapsed.
"""

from __future__ import annotations

import re

from worker.ingest.htmlsafe import feed_html
from worker.ingest.parsed import Page, ParsedDocument, ParseError, engine_from, mean
from worker.ingest.xmlsafe import feed_xml, local

_WCONF = re.compile(r"x_wconf\s+(-?\d+(?:\.\d+)?)")
_LINE_CLASSES = {"ocr_line", "ocrx_line", "ocr_header", "ocr_caption", "ocr_textfloat"}
# what an element opens; anything else is "other"
_PAGE, _PAR, _LINE, _WORD, _OTHER = range(5)


class _HocrTarget:
    """Streams an hOCR document into pages: blocks (``ocr_par``) of lines of words, one pass, no tree."""

    def __init__(self) -> None:
        self.pages: list[Page] = []
        self.engine: dict[str, str] | None = None
        self._roles: list[int] = []  # one per open element
        self._in_page = self._in_line = False
        self._blocks: list[str] = []
        self._lines: list[str] = []
        self._words: list[str] = []
        self._line_text: list[str] = []  # text of the line before its first word
        self._word: list[str] = []
        # where text goes: the word being read (so ``_sink is _word`` means "in a word"), the line before its
        # first word, or nowhere
        self._sink: list[str] | None = None
        self._count = 0  # words on the page
        self._confidences: list[float] = []
        self._wconf: re.Match[str] | None = None  # x_wconf of the word being read

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        role = _OTHER
        cls = attrib.get("class")
        if cls:
            classes = cls.split()
            if "ocr_page" in classes and not self._in_page:
                role, self._in_page = _PAGE, True
                self._blocks, self._lines, self._confidences, self._count = [], [], [], 0
            elif not self._in_page:
                pass
            elif self._in_line:  # inside a line only a word counts (most elements: one test)
                if "ocrx_word" in classes and self._sink is not self._word:
                    role = _WORD
                    self._sink = self._word = []
                    self._wconf = _WCONF.search(attrib.get("title") or "")
            elif "ocr_par" in classes or "ocr_carea" in classes:  # converters write areas without paragraphs
                role = _PAR
                self._end_block()
            elif _LINE_CLASSES.intersection(classes):
                role, self._in_line, self._words = _LINE, True, []
                self._sink = self._line_text = []
        elif self.engine is None and attrib.get("name") == "ocr-system" and local(tag) == "meta":
            self.engine = engine_from(attrib.get("content") or "")
        self._roles.append(role)

    def data(self, text: str) -> None:
        sink = self._sink
        if sink is not None:
            sink.append(text)

    def end(self, tag: str) -> None:
        role = self._roles.pop()
        if role == _WORD:
            self._sink = None
            word = "".join(self._word).strip()
            if word:
                self._words.append(word)
                if self._wconf:
                    self._confidences.append(min(max(float(self._wconf.group(1)) / 100.0, 0.0), 1.0))
        elif role == _LINE:
            self._in_line = False
            self._sink = None
            if self._words:
                self._lines.append(" ".join(self._words))
                self._count += len(self._words)
            else:  # no word: the line's text (OCRopus); with only blank words, the whitespace before them
                words = "".join(self._line_text).split()
                if words:
                    self._lines.append(" ".join(words))
                    self._count += len(words)
        elif role == _PAGE:
            self._in_page = False
            self._end_block()
            text = "\n\n".join(self._blocks)
            self.pages.append(Page(len(self.pages) + 1, text, mean(self._confidences), self._count))

    def _end_block(self) -> None:
        if self._lines:
            self._blocks.append("\n".join(self._lines))
        self._lines = []


def parse_hocr(text: str) -> ParsedDocument:
    """Read an hOCR document, XML or else HTML; a document without any ``ocr_page`` is refused.

    What XML refuses for safety (entity declarations, ``xml_forbidden``) is never retried as HTML; a file that
    is neither well-formed XML nor complete HTML keeps the XML parser's reason (``invalid_xml``).
    """
    target = _HocrTarget()
    try:
        feed_xml(text, target)
    except ParseError as xml_error:
        if xml_error.reason != "invalid_xml":
            raise
        target = _HocrTarget()
        try:
            feed_html(text, target)
        except ParseError as html_error:
            raise ParseError("invalid_xml", f"{xml_error}; as HTML: {html_error}") from None
    if not target.pages:
        raise ParseError("invalid_hocr", "hOCR without any ocr_page")
    return ParsedDocument(format="hocr", pages=target.pages, engine=target.engine)
