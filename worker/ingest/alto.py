"""ALTO XML v1–v4, any engine: ``Page`` → ``TextBlock`` → ``TextLine`` → ``String`` (``WC`` 0–1).

Elements are matched by local name, so a namespace prefix (``<alto:String>``) changes nothing. A ``String``
may hold a word (Tesseract, ABBYY, national libraries) or a whole line (eScriptorium, kraken): its words are
counted. A ``HYP`` (the printed hyphen ending a line) is kept on the word before it, as printed. The engine is
the ``processingSoftware`` of the OCR step: ``softwareName`` and ``softwareVersion``, or a name that carries
its version (``tesseract 5.3.0``).
"""

from __future__ import annotations

from worker.ingest.parsed import Page, ParsedDocument, ParseError, engine_from, mean
from worker.ingest.xmlsafe import feed_xml, local


def _confidence(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return min(max(value, 0.0), 1.0) if value is not None else None


class _AltoTarget:
    """Streams an ALTO document into pages, one pass, no tree: a ``TextLine`` counts inside a
    ``TextBlock`` and a ``String`` inside a ``TextLine`` (their direct parents), as the schema nests them."""

    def __init__(self) -> None:
        self.pages: list[Page] = []
        self.root: str | None = None
        self.engine: dict[str, str] | None = None
        self._tags: list[str] = []  # local names of the open elements
        self._names: dict[str, str] = {}  # tag -> local name (a document uses a handful of tags)
        self._in_page = False
        self._software: list[str] | None = None  # text of the softwareName / softwareVersion being read
        self._software_fields: dict[str, str] = {}  # of the processingSoftware being read
        self._programs: list[tuple[bool, dict[str, str]]] = []  # (in an ocrProcessingStep, fields)
        self._ocr_step = False
        self._blocks: list[str] = []
        self._lines: list[str] = []
        self._strings: list[str] = []
        self._confidences: list[float] = []
        self._words = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        name = self._names.get(tag)
        if name is None:
            name = self._names[tag] = local(tag)
        parent = self._tags[-1] if self._tags else None
        self._tags.append(name)
        if parent is None:
            self.root = name
        if name == "String":
            content = (attrib.get("CONTENT") or "").strip()
            if content and self._in_page and parent == "TextLine" and self._tags[-3:-2] == ["TextBlock"]:
                self._strings.append(content)
                self._words += len(content.split()) if " " in content else 1
                confidence = _confidence(attrib.get("WC"))
                if confidence is not None:
                    self._confidences.append(confidence)
        elif name == "SP":  # one per word: nothing to do
            pass
        elif name == "Page" and not self._in_page:
            self._in_page = True
            self._blocks, self._lines, self._strings, self._confidences, self._words = [], [], [], [], 0
            self._tags[-1] = "Page:open"  # only this element's end closes the page
        elif name == "HYP":
            hyphen = (attrib.get("CONTENT") or "").strip()
            if hyphen and self._strings and self._in_page and parent == "TextLine":
                self._strings[-1] += hyphen
        elif name in ("softwareName", "softwareVersion"):
            self._software = []
        elif name == "ocrProcessingStep":
            self._ocr_step = True

    def data(self, text: str) -> None:
        if self._software is not None:
            self._software.append(text)

    def end(self, tag: str) -> None:
        name = self._tags.pop()
        if name == "String" or name == "SP":  # most elements: nothing to do at their end
            return
        parent = self._tags[-1] if self._tags else None
        if name == "TextLine" and parent == "TextBlock":
            if self._strings:
                self._lines.append(" ".join(self._strings))
            self._strings = []
        elif name == "TextBlock":
            if self._lines:
                self._blocks.append("\n".join(self._lines))
            self._lines = []
        elif name == "Page:open":
            self._in_page = False
            self.pages.append(
                Page(len(self.pages) + 1, "\n\n".join(self._blocks), mean(self._confidences), self._words)
            )
        elif name in ("softwareName", "softwareVersion") and self._software is not None:
            value = "".join(self._software).strip()
            self._software = None
            if value:
                self._software_fields.setdefault(name, value)
        elif name == "processingSoftware":
            if "softwareName" in self._software_fields and len(self._programs) < 16:
                self._programs.append((self._ocr_step, self._software_fields))
            self._software_fields = {}
        elif name == "ocrProcessingStep":
            self._ocr_step = False

    def finish(self) -> None:
        """The engine: the first OCR step's software, else the first software named."""
        if not self._programs:
            return
        fields = next((f for in_ocr, f in self._programs if in_ocr), self._programs[0][1])
        version = fields.get("softwareVersion")
        name = fields["softwareName"]
        self.engine = {"name": name[:64], "version": version[:64]} if version else engine_from(name)


def parse_alto(text: str) -> ParsedDocument:
    """Read an ALTO document; one without a ``Page`` is refused."""
    target = _AltoTarget()
    feed_xml(text, target)
    target.finish()
    if target.root != "alto":
        raise ParseError("invalid_alto", "the root element is not <alto>")
    if not target.pages:
        raise ParseError("invalid_alto", "ALTO without any Page")
    return ParsedDocument(format="alto", pages=target.pages, engine=target.engine)
