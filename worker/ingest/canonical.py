"""Canonical JSON ``mediflux.ocr/1`` (schema: docs/schemas/mediflux.ocr-1.schema.json).

Parsed with orjson: strict RFC 8259 (``NaN`` and ``Infinity`` are invalid JSON), nesting capped at 1,024
levels, and about four times faster than the standard library on these documents (parsing was a fifth of
a backlog's CPU time). Text containing NUL (``\u0000`` escapes) is refused: PostgreSQL cannot store it.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from worker.ingest.parsed import Page, ParsedDocument, ParseError, count_words
from worker.userids import RULE, is_valid_user_id

SCHEMA = "mediflux.ocr/1"
MAX_PAGES = 10_000


def _fail(message: str) -> ParseError:
    return ParseError("invalid_canonical_json", message)


def _text_field(doc: dict[str, Any], key: str, limit: int = 512) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise _fail(f"'{key}' must be a string of at most {limit} characters, without NUL")
    return value


def _engine(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str) and "\x00" not in value:  # tolerated shorthand: the engine name alone
        return {"name": value[:64]}
    if not isinstance(value, dict) or not all(
        isinstance(value.get(k, ""), str) and "\x00" not in value.get(k, "") for k in ("name", "version")
    ):
        raise _fail('\'engine\' must be {"name": str, "version": str}')
    return {k: value[k][:64] for k in ("name", "version") if k in value}


def _page(raw: Any, index: int) -> Page:
    if not isinstance(raw, dict):
        raise _fail(f"pages[{index}] must be an object")
    number, text, conf = raw.get("number", index + 1), raw.get("text"), raw.get("confidence")
    if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= MAX_PAGES:
        raise _fail(f"pages[{index}].number must be a whole number from 1")
    if not isinstance(text, str) or "\x00" in text:
        raise _fail(f"pages[{index}].text is required and must be a string without NUL characters")
    if conf is not None and (
        isinstance(conf, bool) or not isinstance(conf, (int, float)) or not math.isfinite(conf) or not 0 <= conf <= 1
    ):
        raise _fail(f"pages[{index}].confidence must be a number from 0 to 1")
    return Page(number, text, None if conf is None else round(float(conf), 3), count_words(text))


def parse_canonical(text: str) -> ParsedDocument:
    """Validate and read a canonical JSON document (``schema`` or, as written by older tools, ``format``)."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if "depth" in exc.msg or "recursion" in exc.msg:
            raise ParseError("invalid_json", "JSON nested too deeply") from None
        raise ParseError("invalid_json", f"invalid JSON at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(doc, dict):
        raise _fail("the top level must be an object")
    if doc.get("schema", doc.get("format")) != SCHEMA:
        raise _fail(f"'schema' must be \"{SCHEMA}\"")
    pages = doc.get("pages")
    if not isinstance(pages, list) or not pages or len(pages) > MAX_PAGES:
        raise _fail(f"'pages' must be a list of 1 to {MAX_PAGES} pages")
    parsed = [_page(p, i) for i, p in enumerate(pages)]
    if len({p.number for p in parsed}) != len(parsed):
        raise _fail("page numbers must be unique")
    user_id = doc.get("user_id")
    if user_id is not None and not is_valid_user_id(user_id):
        raise _fail(f"'user_id' must be a user id: {RULE}")
    return ParsedDocument(
        format="json",
        pages=sorted(parsed, key=lambda p: p.number),
        engine=_engine(doc.get("engine")),
        user_id=user_id,
        source_filename=_text_field(doc, "source_filename"),
        document_type_hint=_text_field(doc, "document_type_hint", 64),
    )
