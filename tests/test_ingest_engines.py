"""OCR results from other engines: hOCR and ALTO as any engine writes them, word for word, with the same safety.

The samples (tests/corpus/engines, README there) are shaped like Tesseract 3–5, OCRopus/ocropy, kraken, ABBYY,
Google Vision converters, eScriptorium and national libraries' ALTO; expected.json says what each must give.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from models import Document
from tests.ingest_fixtures import as_html, corpus_files, fetch_trap, sqlite_inbox_settings
from worker.ingest import ingest_batch
from worker.ingest.parse import parse_document
from worker.ingest.parsed import ParseError
from worker.quarantine import entries

ENGINES = Path(__file__).resolve().parent / "corpus" / "engines"
EXPECTED = json.loads((ENGINES / "expected.json").read_text(encoding="utf-8"))


def _pages(doc):
    return [{"text": p.text, "words": p.words, "confidence": p.confidence} for p in doc.pages]


def _refused(data: str | bytes, name: str) -> ParseError:
    with pytest.raises(ParseError) as err:
        parse_document(data.encode() if isinstance(data, str) else data, name)
    return err.value


def test_the_corpus_covers_every_engine_family():
    names = set(EXPECTED)
    assert names == {p.name for p in ENGINES.iterdir()} - {"expected.json", "README.md"}
    for family in ("tesseract", "ocropy", "kraken", "abbyy", "google-vision", "alto-v2", "alto-v3", "alto-v4"):
        assert any(n.startswith(family) for n in names), family
    assert {"escriptorium", "prefixed", "ns0", "html", "tsv"} <= {
        w for n in names for w in n.replace(".", "-").split("-")
    }


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_engine_sample_comes_out_word_for_word(name):
    expected = EXPECTED[name]
    doc = parse_document((ENGINES / name).read_bytes(), name)
    assert doc.format == expected["format"]
    assert doc.engine == expected["engine"]
    assert _pages(doc) == expected["pages"]
    assert doc.words == sum(p["words"] for p in expected["pages"])


def test_each_of_the_refused_shapes_is_now_read():
    """The eight refusals of the issue, one sample each (they failed on the old parsers with these reasons)."""
    text = {name: "\n\n".join(p["text"] for p in EXPECTED[name]["pages"]) for name in EXPECTED}
    assert text["tesseract-3.02-html4.hocr"].startswith("Attestation de droits\nValable")  # was invalid_xml
    assert text["ocropy-html5.hocr"].split("\n")[2] == "Hémoglobine glyquée < 6 %"  # was invalid_xml
    assert text["ocropy-xhtml.hocr"].endswith("régulier\n\nConclusion : examen normal")  # was no_text
    assert "Déclaration de médecin traitant" in text["abbyy-html-entities.hocr"]  # was invalid_xml (&eacute;)
    assert "«\u00a0parcours\u00a0» – cœur" in text["abbyy-html-entities.hocr"]  # &laquo; &nbsp; &ndash; &oelig;
    assert text["alto-ns0.alto.xml"] == "Kinésithérapie 10 séances\n\nFin"  # was unknown_markup
    assert text["tesseract-tsv-extra-columns.tsv"] == text["tesseract-tsv-trailing-tab.tsv"]  # were invalid_tsv
    assert text["tesseract-tsv-extra-columns.tsv"] == "Kétoprofène 100 mg\n2 fois/jour\n\nRenouvelable"


def test_alto_engine_hyphen_and_line_level_strings():
    assert EXPECTED["alto-v2-loc-abbyy.xml"]["engine"] == {"name": "ABBYY FineReader Engine", "version": "11"}
    assert EXPECTED["alto-v2-loc-abbyy.xml"]["pages"][0]["text"].startswith("Prescription médicale renouve-\nlable")
    assert EXPECTED["alto-v4-escriptorium.xml"]["pages"][0]["words"] == 10  # one String per line, words counted
    assert EXPECTED["abbyy-archive.hocr"]["engine"] == {"name": "ABBYY FineReader", "version": "11.0"}


@pytest.mark.parametrize("path", [p for p in corpus_files() if p.name.endswith(".hocr")], ids=lambda p: p.name)
def test_html_serialised_hocr_gives_the_same_document_as_its_xhtml(path):
    xhtml = path.read_text(encoding="utf-8")
    html = as_html(xhtml)
    with pytest.raises(ParseError):  # really not XML: the HTML path is what reads it
        from worker.ingest.xmlsafe import feed_xml

        feed_xml(html, type("T", (), {"start": lambda *a: None})())
    a, b = parse_document(xhtml.encode(), path.name), parse_document(html.encode(), path.name)
    assert (b.format, b.engine, _pages(b)) == (a.format, a.engine, _pages(a))


def test_line_only_hocr_is_the_same_as_xhtml_or_html():
    xhtml = (ENGINES / "ocropy-xhtml.hocr").read_text(encoding="utf-8")
    a, b = parse_document(xhtml.encode(), "a.hocr"), parse_document(as_html(xhtml).encode(), "b.hocr")
    assert _pages(a) == _pages(b) == EXPECTED["ocropy-xhtml.hocr"]["pages"]


@pytest.fixture
def s(tmp_path):
    yield from sqlite_inbox_settings(tmp_path, max_file_mb="1")


def _land(s, name: str, data: bytes) -> str:
    path = s.inbox / name
    path.write_bytes(data)
    old = time.time() - 3600
    os.utime(path, (old, old))
    return str(path)


def test_stored_documents_are_identical_for_the_same_content(s):
    path = next(p for p in corpus_files() if p.name.endswith(".hocr"))
    xhtml = path.read_text(encoding="utf-8")
    report = ingest_batch([_land(s, "a.hocr", xhtml.encode()), _land(s, "b.html", as_html(xhtml).encode())], s)
    assert len(report.stored) == 2 and report.quarantined == 0, report.summary()
    a, b = Document.select().order_by(Document.id)
    assert a.sha256 != b.sha256
    assert (b.text, b.pages, b.format) == (a.text, a.pages, a.format)
    assert b.meta["engine"] == a.meta["engine"] and b.meta["words"] == a.meta["words"]


def test_a_huge_html_hocr_is_quarantined_unread(s):
    page = "<span class='ocr_line'><span class='ocrx_word' title='x_wconf 90'>mot</span></span><br>\n"
    data = ("<!DOCTYPE html><html><body><div class='ocr_page'>" + page * 16_000 + "</div></body></html>").encode()
    assert len(data) > 1024 * 1024
    report = ingest_batch([_land(s, "big.hocr", data)], s)
    assert report.quarantined == 1
    assert [e.sidecar["reason"] for e in entries(s.home)] == ["too_large"]


LAUGHS = '<!DOCTYPE html [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
XXE = '<!DOCTYPE html [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
HTML_BODY = "<html><head><meta charset=utf-8></head><body><div class='ocr_page'><span class='ocr_line'>{}</span><br></div></body></html>"


@pytest.mark.parametrize(
    "payload, reason",
    [
        # entity declarations are refused before anything else, whatever follows (XML or HTML)
        ('<?xml version="1.0"?>' + LAUGHS + HTML_BODY.format("&lol2;"), "xml_forbidden"),
        (LAUGHS + HTML_BODY.format("&lol2;"), "xml_forbidden"),
        (XXE + HTML_BODY.format("&xxe;"), "xml_forbidden"),
        (
            '<!DOCTYPE html [<!ENTITY % ext SYSTEM "file:///etc/passwd"> %ext;]>' + HTML_BODY.format("a"),
            "xml_forbidden",
        ),
        (
            '<!DOCTYPE alto [<!ENTITY lol "lol">]><ns0:alto xmlns:ns0="http://www.loc.gov/standards/alto/ns-v2#">'
            '<ns0:Layout><ns0:Page><ns0:TextBlock><ns0:TextLine><ns0:String CONTENT="&lol;"/></ns0:TextLine>'
            "</ns0:TextBlock></ns0:Page></ns0:Layout></ns0:alto>",
            "xml_forbidden",
        ),
        # a prolog broken before its declaration is not vetted as XML, and HTML reads no declaration: still refused
        ('<!DOCTYPE html [ % <!ENTITY lol "lol"> ]>' + HTML_BODY.format("&lol;"), "invalid_xml"),
        # a name only a DTD could define, in HTML: never guessed, never fetched
        (HTML_BODY.format("Dr &xxe; Martin"), "invalid_xml"),
        # truncated HTML: neither well-formed XML nor complete HTML
        (HTML_BODY.format("Ordonnance du Dr")[:-40], "invalid_xml"),
        ("<!DOCTYPE html><html><body><div class='ocr_page'><span class='ocr_line'>Ordonnance", "invalid_xml"),
        # the truncation check itself is linear: a tail of empty comments and junk (exponential with a lazy regex)
        (HTML_BODY.format("Ordonnance") + "<!---->" * 500 + "x", "invalid_xml"),
        # HTML hOCR without any page
        (
            "<!DOCTYPE html><html><head><meta name='ocr-system' content='x'></head><body><p>a</p></body></html>",
            "invalid_hocr",
        ),
    ],
)
@pytest.mark.timeout(60)
def test_hostile_and_broken_hocr_is_refused_with_its_reason(payload, reason):
    err = _refused(payload, "x.hocr")
    assert err.reason == reason
    assert "Martin" not in str(err) and "Ordonnance" not in str(err)  # no content in messages


def test_an_entity_declaration_is_inert_in_html():
    """HTML never reads declarations: redefining ``amp`` changes nothing (and nothing is fetched or expanded)."""
    doc = parse_document(
        ('<!DOCTYPE html [ % <!ENTITY amp "lol"> ]>' + HTML_BODY.format("a &amp; b")).encode(), "x.hocr"
    )
    assert doc.pages[0].text == "a & b"


def test_html_hocr_nested_200k_deep_is_read_without_recursion():
    n = 200_000
    hocr = (
        "<!DOCTYPE html><html><body><div class='ocr_page'><p class='ocr_par'><span class='ocr_line'><br>"
        + "<span>" * n
        + "<span class='ocrx_word' title='x_wconf 90'>mot</span>"
        + "</span>" * n
        + "</span></p></div></body></html>"
    )
    doc = parse_document(hocr.encode(), "deep.hocr")
    assert (doc.pages[0].text, doc.words, doc.pages[0].confidence) == ("mot", 1, 0.9)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("junk", ["<a ", "</", "<!", "<![CDATA[", "<?x", "&amp", "<a b='"])
def test_malformed_html_of_megabytes_is_read_in_one_pass(junk):
    """The standard library's html.parser needs minutes for 60 KB of ``<a <a``; libxml2 reads 3 MB of it."""
    text = "<!DOCTYPE html><html><body><div class='ocr_page'>" + junk * 1_000_000 + "</div></body></html>"
    try:
        doc = parse_document(text.encode(), "junk.hocr")
    except ParseError as err:
        assert err.reason in ("no_text", "invalid_xml")
    else:
        assert doc.format == "hocr"


def test_html_hocr_fetches_nothing():
    with fetch_trap() as (url, hits):
        doc = (
            f'<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN" "{url}/html4.dtd"><html><head>'
            f'<link rel="stylesheet" href="{url}/s.css"><script src="{url}/s.js"></script>'
            f"<meta name='ocr-system' content='kraken'></head><body><div class='ocr_page'>"
            f"<img src='{url}/p.png'><span class='ocr_line'>caf&eacute;</span><br></div></body></html>"
        )
        assert parse_document(doc.encode(), "x.hocr").pages[0].text == "café"
        with pytest.raises(ParseError):
            parse_document(doc.replace("caf&eacute;", "&x;").encode(), "x.hocr")
    assert hits == []


WEB_PAGE = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Cabinet médical</title>
<link rel="stylesheet" href="/style.css"></head>
<body><nav><a href="/">Accueil</a> &middot; <a href="/rdv">Rendez-vous</a></nav>
<main><h1>Horaires</h1><p>Lundi&nbsp;: 9h&ndash;18h<br>Samedi sur rendez-vous</p></main></body></html>"""
SVG = """<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="200" height="80"><text x="10" y="40">Ordonnance</text></svg>"""
XHTML = """<?xml version="1.0" encoding="UTF-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Note</title></head>
<body><div class="page"><p class="line">Une note, pas un résultat OCR</p></div></body></html>"""
ABOUT_HOCR = """<!DOCTYPE html><html><body><h1>Le format hOCR</h1>
<p>Une page est un élément de classe <code>ocr_page</code>, un mot <code>ocrx_word</code>.</p></body></html>"""


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("index.html", WEB_PAGE, "unknown_markup"),
        ("logo.svg", SVG, "unknown_markup"),
        ("note.xml", XHTML, "unknown_markup"),
        ("note.xhtml", XHTML, "unknown_markup"),
        ("about.html", ABOUT_HOCR, "invalid_hocr"),  # names hOCR's classes in its text, has no page
        ("page.alto.xml", "<root><p>alto</p><alto-like/></root>", "unknown_markup"),
    ],
)
def test_markup_that_is_not_ocr_output_is_still_refused(name, data, reason):
    assert _refused(data, name).reason == reason


TSV_HEADER = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"


@pytest.mark.parametrize(
    "header, row",
    [
        (TSV_HEADER, "5\t1\t1\t1\t1\t1\t0\t0\t1\t1\t90\tmot\tsurplus"),  # an extra cell the header does not name
        (TSV_HEADER + "\tfont", "5\t1\t1\t1\t1\t1\t0\t0\t1\t1\t90\tmot\tArial\tsurplus"),
        (TSV_HEADER, "5\t1\t1\t1\t1\t1\t0\t0\t1\t90"),  # too few cells
        (TSV_HEADER + "\tfont", "5\t1\t1\t1\t1\t1\t0\t0\t1\tx\tmot\tArial"),  # conf not a number
        ("level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\ttext", "5\t1\t1"),
    ],
)
def test_tsv_that_is_not_tesseract_tsv_is_still_refused(header, row):
    assert _refused(f"{header}\n{row}\n", "x.tsv").reason == "invalid_tsv"
