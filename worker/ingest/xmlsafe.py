"""XML parsing that defusedxml vets: no entity expansion (billion laughs), no external entities or DTDs fetched.

Two steps, because OCR files have one element per word and defusedxml's parser runs Python code for every
element (it must use ElementTree's pure-Python parser to hook expat):

1. defusedxml reads the prolog (XML declaration, DOCTYPE and its internal subset) and refuses any entity
   declaration or external reference. It stops at the root element's start tag: in XML, declarations can
   only come before it, so a document that passes declares no entity at all.
2. The standard library's C parser (``xml.etree.ElementTree.XMLParser``, which never fetches an external
   DTD or entity) streams the document into a small *target* (``start``/``end``/``data``, the ElementTree
   target protocol); no tree is built. An undeclared entity reference is a syntax error there.

Together they cost about a third of defusedxml's parse plus a tree walk.
"""

from __future__ import annotations

from typing import Protocol
from xml.etree.ElementTree import ParseError as XmlSyntaxError
from xml.etree.ElementTree import XMLParser

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from worker.ingest.parsed import ParseError


class Target(Protocol):
    def start(self, tag: str, attrib: dict[str, str]) -> None: ...


class _RootStarted(Exception):
    """The prolog is over: nothing that follows can declare an entity."""


class _PrologGate:
    def start(self, tag: str, attrib: dict[str, str]) -> None:
        raise _RootStarted()


def _vet_prolog(data: bytes) -> None:
    parser = DefusedXMLParser(target=_PrologGate(), forbid_dtd=False, forbid_entities=True, forbid_external=True)
    try:
        parser.feed(data)
        parser.close()
    except _RootStarted:
        pass


def feed_xml(text: str, target: Target) -> None:
    """Parse ``text`` safely into ``target``; any entity declaration or syntax error is a ParseError."""
    data = text.encode("utf-8")
    try:
        _vet_prolog(data)
        parser = XMLParser(target=target)
        parser.feed(data)
        parser.close()
    except DefusedXmlException as exc:
        raise ParseError("xml_forbidden", f"XML refused: {type(exc).__name__}") from None
    except XmlSyntaxError as exc:
        raise ParseError(
            "invalid_xml", f"invalid XML ({(exc.code and 'code ' + str(exc.code)) or 'syntax'}, line {exc.position[0]})"
        ) from None


def local(tag: str) -> str:
    """Tag without its namespace."""
    return tag.rsplit("}", 1)[-1]
