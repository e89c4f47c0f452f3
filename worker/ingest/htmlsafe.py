"""hOCR serialised as HTML rather than XML, streamed into the same target as the XML path.

Many engines write hOCR as HTML (OCRopus/ocropy, kraken, older Tesseract, converters): ``<meta>`` and ``<br>``
left open, no XML declaration, an HTML doctype, named entities such as ``&nbsp;`` or ``&eacute;`` that XML
parsers refuse because no DTD declares them. Such a file is read by libxml2's HTML parser through lxml
(``lxml.etree.HTMLParser`` with a *target*: events only, no tree), chosen over the standard library's
``html.parser`` because that one is super-linear on malformed tags in the Python the worker runs (30 KB of
``<a <a <a`` took 29 s, 60 KB 139 s: a denial of service from one upload), while libxml2 reads a million such
tags in a fraction of a second. The HTML parser never fetches anything (``no_network``), reads no entity
declaration (``<!DOCTYPE x [<!ENTITY …>]>`` is inert: ``&lol;`` stays four characters, nothing expands),
resolves references from the fixed HTML5 table, closes void and implied elements the HTML way, and keeps no
tree. A reference to a name that table lacks (``&x;``) is refused: only a DTD could define it, none is ever
read, so its text would be wrong.

An HTML parser accepts anything, a truncated file included, and closes what is open at the end; a file cut in
the middle must not be stored half. Every engine ends its hOCR with ``</html>``, so a document that does not
(trailing whitespace and comments aside) is refused as truncated.
"""

from __future__ import annotations

import re
from html.entities import html5
from typing import Any, Protocol, cast

from worker.ingest.parsed import ParseError

_NAMED_REFERENCE = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
# a comment's body cannot contain "-->", so a run of comments splits one way only (``<!--.*?-->`` repeated
# backtracks exponentially over ``<!----><!---->…x``)
_ENDS_WITH_HTML = re.compile(r"</html\s*>\s*(?:<!--(?:[^-]|-(?!->))*-->\s*)*\Z", re.IGNORECASE)
_TAIL_CHARS = 4096


class Target(Protocol):
    def start(self, tag: str, attrib: dict[str, str]) -> None: ...
    def end(self, tag: str) -> None: ...
    def data(self, text: str) -> None: ...


class _Events:
    """lxml's parser-target protocol around an ingest target (attributes as a plain dict, ``close`` returns)."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self.data = target.data
        self.end = target.end

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self._target.start(tag, dict(attrib))

    def close(self) -> None:
        return None


def feed_html(text: str, target: Target) -> None:
    """Stream HTML ``text`` into ``target``; a truncated document or an unknown entity name is a ParseError."""
    from lxml import etree  # imported on the first HTML file: most inboxes only ever see XML

    if not _ENDS_WITH_HTML.search(text[-_TAIL_CHARS:]):
        raise ParseError("invalid_html", "HTML that does not end with </html> (truncated)")
    unknown = {m[1] for m in _NAMED_REFERENCE.finditer(text) if m[1] + ";" not in html5}
    if unknown:
        raise ParseError("invalid_html", f"{len(unknown)} entity name(s) that HTML does not define (no DTD is read)")
    events = cast(Any, _Events(target))  # lxml's target protocol, duck-typed (its stubs want every method)
    parser = etree.HTMLParser(target=events, no_network=True, remove_comments=True, remove_pis=True)
    try:
        parser.feed(text)
        parser.close()
    except etree.LxmlError as exc:
        raise ParseError("invalid_html", f"HTML the parser cannot read ({type(exc).__name__})") from None
