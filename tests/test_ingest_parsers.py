"""Parsers on real Tesseract output in all five formats; sniffing by content; canonical JSON validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ingest_fixtures import corpus_files, fetch_trap, one_per_format, variant
from worker.ingest.parsed import ParseError
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
    doc = {
        "schema": "mediflux.ocr/1",
        "user_id": "u-42",
        "source_filename": "scan.pdf",
        "engine": {"name": "tesseract", "version": "5.3.0"},
        "document_type_hint": "ordonnance",
        "pages": [{"number": 2, "text": "page deux", "confidence": 0.5}, {"number": 1, "text": "page un"}],
    }
    doc.update(changes)
    return json.dumps(doc).encode()


def test_canonical_json_fields():
    doc = parse_document(_canonical(), "a.json")
    assert [p.number for p in doc.pages] == [1, 2] and doc.pages[1].confidence == 0.5
    assert doc.pages[0].confidence is None
    assert (doc.user_id, doc.source_filename, doc.document_type_hint) == ("u-42", "scan.pdf", "ordonnance")
    assert doc.engine == {"name": "tesseract", "version": "5.3.0"}


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"schema": "mediflux.ocr/2"}, "schema"),
        ({"pages": []}, "pages"),
        ({"pages": [{"number": 1}]}, "text"),
        ({"pages": [{"number": 0, "text": "x"}]}, "number"),
        ({"pages": [{"number": 1, "text": "x", "confidence": 1.5}]}, "confidence"),
        ({"pages": [{"number": 1, "text": "x"}, {"number": 1, "text": "y"}]}, "unique"),
        ({"user_id": "../etc"}, "user_id"),
        ({"user_id": "dave\n"}, "user_id"),
        ({"user_id": 42}, "user_id"),
        ({"engine": ["tesseract"]}, "engine"),
    ],
)
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
    for changes in (
        {"schema": "mediflux.ocr/2"},
        {"pages": []},
        {"pages": [{"number": 1}]},
        {"pages": [{"number": 0, "text": "x"}]},
        {"pages": [{"number": 1, "text": "x", "confidence": 1.5}]},
        {"user_id": "../etc"},
        {"user_id": "dave\n"},
        {"user_id": "é"},
        {"engine": ["tesseract"]},
    ):
        assert not validator.is_valid(json.loads(_canonical(**changes))), changes
    for user_id in ("patient:42", "u+tag@x.org", "x" * 128):  # the shared rule (worker.userids)
        validator.validate(json.loads(_canonical(user_id=user_id)))
        assert parse_document(_canonical(user_id=user_id), "a.json").user_id == user_id


HOCR_TWO_PAGES = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head><meta name='ocr-system' content='tesseract 5.3.0'/></head><body>
 <div class='ocr_page' id='page_1'>
  <span class='ocrx_word' title='x_wconf 10'>stray</span>
  <p class='ocr_par'>
   <span class='ocr_line'><span class='ocrx_word' title='bbox 1 2 3 4; x_wconf 90'>Dr</span>
    <span class='ocrx_word' title='x_wconf 80'><strong>Marc</strong>-Antoine</span></span>
   <span class='ocr_header'><span class='ocrx_word' title='x_wconf 70'>Cardiologue</span></span>
  </p>
  <p class='ocr_par'><span class='ocr_line'><span class='ocrx_word' title='x_wconf 100'>Lyon</span>
   <span class='ocrx_word' title='x_wconf 60'> </span></span></p>
 </div>
 <div class='ocr_page' id='page_2'><p class='ocr_par'><span class='ocr_line'>
  <span class='ocrx_word'>sans</span> <span class='ocrx_word'>score</span></span></p></div>
</body></html>"""

ALTO_TWO_PAGES = """<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v3#"><Description><OCRProcessing><ocrProcessingStep>
 <processingSoftware><softwareName>tesseract 5.3.0</softwareName></processingSoftware></ocrProcessingStep>
 </OCRProcessing></Description><Layout>
 <Page ID="p1"><PrintSpace><ComposedBlock><TextBlock>
  <TextLine><String CONTENT="Pharmacie" WC="0.9"/><SP/><String CONTENT="Centrale" WC="0.7"/></TextLine>
  <TextLine><String CONTENT="  " WC="0.1"/></TextLine></TextBlock></ComposedBlock>
  <TextBlock><TextLine><String CONTENT="Total" WC="1.5"/><String CONTENT="12,50" WC="x"/></TextLine></TextBlock>
 </PrintSpace></Page>
 <Page ID="p2"><PrintSpace><TextBlock><TextLine><String CONTENT="fin"/></TextLine></TextBlock></PrintSpace></Page>
</Layout></alto>"""


def test_hocr_structure_pages_paragraphs_lines_words():
    doc = parse_document(HOCR_TWO_PAGES.encode(), "x.hocr")
    assert doc.engine == {"name": "tesseract", "version": "5.3.0"}
    first, second = doc.pages
    # a word outside any line is not text; markup inside a word is; blank words are dropped
    assert first.text == "Dr Marc-Antoine\nCardiologue\n\nLyon"
    assert (first.words, first.confidence) == (4, 0.85)
    assert (second.number, second.text, second.words, second.confidence) == (2, "sans score", 2, None)


def test_alto_structure_pages_blocks_lines_strings():
    doc = parse_document(ALTO_TWO_PAGES.encode(), "x.alto.xml")
    assert doc.engine == {"name": "tesseract", "version": "5.3.0"}
    first, second = doc.pages
    assert first.text == "Pharmacie Centrale\n\nTotal 12,50"
    assert first.words == 4 and first.confidence == round((0.9 + 0.7 + 1.0) / 3, 3)  # WC clamped, bad WC skipped
    assert (second.text, second.words, second.confidence) == ("fin", 1, None)
    from worker.ingest.alto import parse_alto

    with pytest.raises(ParseError) as err:  # the sniffer already refuses this; the parser checks on its own
        parse_alto(ALTO_TWO_PAGES.replace("<alto ", "<other ").replace("</alto>", "</other>"))
    assert err.value.reason == "invalid_alto"


@pytest.mark.parametrize(
    "payload, reason",
    [
        # a parameter entity pulling an external DTD in
        (
            '<?xml version="1.0"?><!DOCTYPE alto [<!ENTITY % ext SYSTEM "file:///etc/passwd"> %ext;]>'
            '<alto><Layout><Page><TextBlock><TextLine><String CONTENT="a"/></TextLine></TextBlock></Page></Layout></alto>',
            "xml_forbidden",
        ),
        # an entity used but never declared (the declarations are all vetted; the body parser refuses the rest)
        (
            '<?xml version="1.0"?><alto><Layout><Page><TextBlock><TextLine><String CONTENT="&xxe;"/></TextLine>'
            "</TextBlock></Page></Layout></alto>",
            "invalid_xml",
        ),
        # a declaration after the root element starts is not XML at all
        ('<alto><!ENTITY lol "lol"><Layout/></alto>', "invalid_xml"),
    ],
)
def test_xml_entities_are_refused_before_and_after_the_prolog(payload, reason):
    with pytest.raises(ParseError) as err:
        parse_document(payload.encode(), "x.alto.xml")
    assert err.value.reason == reason


def test_xml_external_dtd_is_never_fetched():
    """The DOCTYPE of every hOCR file names a DTD by URL: neither parsing step may fetch it."""
    with fetch_trap() as (base, hits):
        url = base + "/x.dtd"
        doc = HOCR_TWO_PAGES.replace("http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd", url)
        assert parse_document(doc.encode(), "x.hocr").pages[0].text.startswith("Dr")
        with pytest.raises(ParseError):
            parse_document(doc.replace("Lyon", "&x;").encode(), "x.hocr")
    assert hits == []


def test_xml_nested_200k_deep_is_read_without_recursion():
    n = 200_000
    hocr = (
        "<html><body><div class='ocr_page'><p class='ocr_par'><span class='ocr_line'>"
        + "<span>" * n
        + "<span class='ocrx_word' title='x_wconf 90'>mot</span>"
        + "</span>" * n
        + "</span></p></div></body></html>"
    )
    doc = parse_document(hocr.encode(), "deep.hocr")
    assert (doc.pages[0].text, doc.words, doc.pages[0].confidence) == ("mot", 1, 0.9)
    alto = (
        "<alto><Layout><Page>"
        + "<X>" * n
        + "</X>" * n
        + '<TextBlock><TextLine><String CONTENT="a"/></TextLine></TextBlock></Page></Layout></alto>'
    )
    assert parse_document(alto.encode(), "deep.alto.xml").pages[0].text == "a"
