"""ALTO XML (Tesseract's ``alto`` output): ``Page`` → ``TextBlock`` → ``TextLine`` → ``String`` (``WC`` 0–1)."""

from __future__ import annotations

from worker.ingest.parsed import Page, ParsedDocument, ParseError, mean
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
        self._software: list[str] | None = None
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
                self._words += 1
                confidence = _confidence(attrib.get("WC"))
                if confidence is not None:
                    self._confidences.append(confidence)
        elif name == "Page" and not self._in_page:
            self._in_page = True
            self._blocks, self._lines, self._strings, self._confidences, self._words = [], [], [], [], 0
            self._tags[-1] = "Page:open"  # only this element's end closes the page
        elif name == "softwareName" and self.engine is None:
            self._software = []

    def data(self, text: str) -> None:
        if self._software is not None:
            self._software.append(text)

    def end(self, tag: str) -> None:
        name = self._tags.pop()
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
        elif name == "softwareName" and self._software is not None:
            software = "".join(self._software).strip()
            self._software = None
            if software:
                name, _, version = software.partition(" ")
                self.engine = {"name": name[:64], "version": version[:64]} if version else {"name": name[:64]}


def parse_alto(text: str) -> ParsedDocument:
    """Read an ALTO document; one without a ``Page`` is refused."""
    target = _AltoTarget()
    feed_xml(text, target)
    if target.root != "alto":
        raise ParseError("invalid_alto", "the root element is not <alto>")
    if not target.pages:
        raise ParseError("invalid_alto", "ALTO without any Page")
    return ParsedDocument(format="alto", pages=target.pages, engine=target.engine)
