"""XML parsing through defusedxml: no entity expansion (billion laughs), no external entities or DTDs fetched."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError as XmlSyntaxError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from worker.ingest.model import ParseError


def parse_xml(text: str) -> Element:
    """Parse ``text`` safely; any entity declaration or syntax error is a ParseError."""
    try:
        return fromstring(text.encode("utf-8"), forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ParseError("xml_forbidden", f"XML refused: {type(exc).__name__}") from None
    except XmlSyntaxError as exc:
        raise ParseError("invalid_xml", f"invalid XML ({exc.code and 'code ' + str(exc.code) or 'syntax'}, "
                                        f"line {exc.position[0]})") from None
    except RecursionError:
        raise ParseError("invalid_xml", "XML nested too deeply") from None


def local(tag: str) -> str:
    """Tag without its namespace."""
    return tag.rsplit("}", 1)[-1]
