"""Parsers on real Tesseract output in all five formats; sniffing by content; canonical JSON validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ingest_fixtures import corpus_files, one_per_format, variant
from worker.ingest.model import ParseError
from worker.ingest.parse import parse_document
from worker.ingest.sniff import hint_from_name

FORMATS = {".json": "json", ".hocr": "hocr", ".tsv": "tsv", ".alto.xml": "alto", ".txt": "text"}


@pytest.mark.parametrize("suffix", list(FORMATS))
def test_every_corpus_file_parses_with_text_words_and_confidence(suffix):
    files = [p for p in corpus_files() if p.name.endswith(suffix)]
    assert len(files) >= 15
    for path in files:
        doc = parse_document(path.read_bytes(), path.name)
        assert doc.format == FORMATS[suffix], path.name
        assert doc.pages and all(p.text.strip() for p in doc.pages), path.name
        assert doc.words >= 10 and doc.words == sum(p.words for p in doc.pages)
        if suffix == ".txt":
            assert all(p.confidence is None for p in doc.pages)
        else:  # hOCR x_wconf, TSV conf, ALTO WC, JSON confidence
            assert all(0.3 < p.confidence <= 1.0 for p in doc.pages), (path.name, doc.pages[0].confidence)
        if suffix in (".hocr", ".alto.xml"):
            assert doc.engine == {"name": "tesseract", "version": "5.3.0"}


def test_layout_formats_keep_lines_and_paragraphs():
    """hOCR, TSV and ALTO rebuild line breaks and blank lines between paragraphs, in reading order."""
    by_format = one_per_format()
    texts = {}
    for suffix in (".hocr", ".tsv", ".alto.xml"):
        doc = parse_document(by_format[suffix].read_bytes(), by_format[suffix].name)
        texts[suffix] = doc.pages[0].text
        assert "\n" in doc.pages[0].text and "\n\n" in doc.pages[0].text  # lines and paragraphs kept
    assert texts[".hocr"].split()[:3] == ["Groupama", "Gan", "Vie"]  # reading order kept


def test_nirs_are_masked_before_anything_is_returned():
    path = one_per_format()[".txt"]
    doc = parse_document(path.read_bytes(), path.name)
    assert doc.extra["nirs_masked"] >= 1
    assert "** *** *** **" in doc.text
    text = "Patient NIR 1 85 03 75 116 238 81 vu le 2/3"
    doc = parse_document(text.encode(), "n.txt")
    assert "116 238" not in doc.text and "1 85 03 ** *** *** **" in doc.text


def test_format_is_sniffed_from_content_not_the_name():
    fmts = one_per_format()
    assert parse_document(fmts[".hocr"].read_bytes(), "scan.txt").format == "hocr"
    assert parse_document(fmts[".tsv"].read_bytes(), "scan.dat").format == "tsv"
    assert parse_document(fmts[".alto.xml"].read_bytes(), "scan.xml").format == "alto"
    assert parse_document(fmts[".json"].read_bytes(), "noext").format == "json"
    assert hint_from_name("A.ALTO.XML") == "alto" and hint_from_name("x.JSON") == "json"
    with pytest.raises(ParseError) as err:
        parse_document(b"just some words", "x.json")
    assert err.value.reason == "format_mismatch"


def _canonical(**changes):
    doc = {"schema": "mediflux.ocr/1", "user_id": "u-42", "source_filename": "scan.pdf",
           "engine": {"name": "tesseract", "version": "5.3.0"}, "document_type_hint": "ordonnance",
           "pages": [{"number": 2, "text": "page deux", "confidence": 0.5}, {"number": 1, "text": "page un"}]}
    doc.update(changes)
    return json.dumps(doc).encode()


def test_canonical_json_fields():
    doc = parse_document(_canonical(), "a.json")
    assert [p.number for p in doc.pages] == [1, 2] and doc.pages[1].confidence == 0.5
    assert doc.pages[0].confidence is None
    assert (doc.user_id, doc.source_filename, doc.document_type_hint) == ("u-42", "scan.pdf", "ordonnance")
    assert doc.engine == {"name": "tesseract", "version": "5.3.0"}


@pytest.mark.parametrize("changes, fragment", [
    ({"schema": "mediflux.ocr/2"}, "schema"),
    ({"pages": []}, "pages"),
    ({"pages": [{"number": 1}]}, "text"),
    ({"pages": [{"number": 0, "text": "x"}]}, "number"),
    ({"pages": [{"number": 1, "text": "x", "confidence": 1.5}]}, "confidence"),
    ({"pages": [{"number": 1, "text": "x"}, {"number": 1, "text": "y"}]}, "unique"),
    ({"user_id": "../etc"}, "user_id"),
    ({"engine": ["tesseract"]}, "engine"),
])
def test_canonical_json_violations_are_refused_with_a_reason(changes, fragment):
    with pytest.raises(ParseError) as err:
        parse_document(_canonical(**changes), "a.json")
    assert err.value.reason == "invalid_canonical_json" and fragment in str(err.value)
    assert "page deux" not in str(err.value)  # no content in messages


def test_variants_are_distinct_and_still_valid():
    for suffix, path in one_per_format().items():
        a, b = variant(path, 1), variant(path, 2)
        assert a != b
        assert parse_document(a, path.name).format == FORMATS[suffix]


SCHEMA_FILE = Path(__file__).resolve().parent.parent / "docs" / "schemas" / "mediflux.ocr-1.schema.json"


def test_published_json_schema_agrees_with_the_parser():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for path in [p for p in corpus_files() if p.name.endswith(".json")]:
        validator.validate(json.loads(path.read_bytes()))
        parse_document(path.read_bytes(), path.name)
    for example in schema["examples"]:
        validator.validate(example)
        parse_document(json.dumps(example).encode(), "e.json")
    validator.validate(json.loads(_canonical()))
    for changes in ({"schema": "mediflux.ocr/2"}, {"pages": []}, {"pages": [{"number": 1}]},
                    {"pages": [{"number": 0, "text": "x"}]}, {"pages": [{"number": 1, "text": "x", "confidence": 1.5}]},
                    {"user_id": "../etc"}, {"engine": ["tesseract"]}):
        assert not validator.is_valid(json.loads(_canonical(**changes))), changes
