"""Every field issue 15 lists goes through the one NIR detector: stored documents (text, pages, file name, every
string of meta), the data API (profile keys and values, text fields, queries, pathways, decisions), quarantine
sidecars and log lines."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from pathlib import Path

import pytest

from models import Document
from worker import quarantine
from worker.api import DataAPI, InvalidInput, InvalidProfile
from worker.ingest import batch, ingest_batch
from worker.ingest.files import Landed
from worker.logsetup import build_handler, configure_logging
from worker.privacy import find_nirs

NIR = "185037512345641"
CLEAR = ("185037512345641", "1850375123456", "123 456", "123\u00a0456", "123456")


def _no_nir(blob: str) -> None:
    assert not find_nirs(blob), blob
    for form in CLEAR:
        assert form not in blob, (form, blob)


@pytest.fixture
def ingest_settings(settings, database):
    return dataclasses.replace(settings, ingest_grace_seconds=0.0)


def _land(settings, rel: str, data: bytes) -> str:
    path = settings.inbox / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


HOCR = (
    '<html><body><div class="ocr_page" title="bbox 0 0 100 100">'
    '<span class="ocr_line"><span class="ocrx_word">N°</span> <span class="ocrx_word">1</span> '
    '<span class="ocrx_word">85</span> <span class="ocrx_word">03</span> <span class="ocrx_word">75</span> '
    '<span class="ocrx_word">123</span> <span class="ocrx_word">456</span></span>'
    '<span class="ocr_line"><span class="ocrx_word">41</span></span>'
    "</div></body></html>"
)


def test_stored_documents_hold_no_nir_in_any_field(ingest_settings):
    s = ingest_settings
    canonical = {
        "schema": "mediflux.ocr/1",
        "source_filename": f"scan MOREL {NIR}.pdf",
        "document_type_hint": "ordonnance 1 85 03 75 123 456",
        "engine": {"name": "ocr\u00a01\u00a085\u00a003\u00a075\u00a0123\u00a0456\u00a041", "version": "5"},
        "pages": [{"number": 1, "text": "N° SS : 1\t85\t03\t75\t123\t456\t41\nDOLIPRANE 1000 mg"}],
    }
    paths = [
        _land(s, f"u-1/DUPONT Jean {NIR}.txt", "Carte vitale\nN° SS : 1 85 03 75 123 456 (41)\n".encode()),
        _land(s, "u-1/scan.json", json.dumps(canonical).encode()),
        _land(s, f"u-1/page {NIR[:13]}.hocr", HOCR.encode()),
    ]
    report = ingest_batch(paths, s)
    assert len(report.stored) == 3 and not report.quarantined
    for doc in Document.select():
        assert doc.meta["nirs_masked"] == 1, doc.format
        _no_nir(doc.original_filename)
        _no_nir(json.dumps(doc.meta, ensure_ascii=False))
        _no_nir(doc.text)
        _no_nir(json.dumps(doc.pages, ensure_ascii=False))
        assert doc.meta["inbox_path"].startswith("u-1/")
    hocr = Document.get(Document.format == "hocr")
    assert hocr.text == "N° 1 85 03 ** *** *** **"  # the number split over two hOCR lines
    canonical_doc = Document.get(Document.format == "json")
    assert canonical_doc.original_filename == "scan MOREL 1 85 03 ** *** *** **.pdf"
    assert canonical_doc.meta["engine"]["name"] == "ocr\u00a01 85 03 ** *** *** **"


def test_a_number_split_over_a_page_break_is_masked_in_the_pages_and_the_text(ingest_settings):
    """In no page alone is it a NIR (10 digits, then 5): only the document's text joins them; each page must not
    keep its half in clear either (together they are the number)."""
    s = ingest_settings
    canonical = {
        "schema": "mediflux.ocr/1",
        "pages": [
            {"number": 1, "text": "Attestation de droits\nN° SS : 1 85 03 75 123"},
            {"number": 2, "text": "456 41\nDOLIPRANE 1000 mg"},
            {"number": 3, "text": "RPPS 10003456789, tél. 01 45 67 89 10"},
        ],
    }
    report = ingest_batch([_land(s, "u-1/two-pages.json", json.dumps(canonical).encode())], s)
    assert len(report.stored) == 1, report.reasons
    (doc,) = Document.select()
    _no_nir(doc.text)
    _no_nir(json.dumps(doc.pages, ensure_ascii=False))
    assert "75 123" not in json.dumps(doc.pages) and "456 41" not in json.dumps(doc.pages)
    assert [p["text"] for p in doc.pages][:2] == [
        "Attestation de droits\nN° SS : 1 85 03 ** *** *** **",
        "\nDOLIPRANE 1000 mg",
    ]
    assert "RPPS 10003456789, tél. 01 45 67 89 10" in doc.text  # near-misses on the next page are left alone
    assert doc.meta["nirs_masked"] == 1


def test_a_second_pass_over_a_stored_file_still_knows_it(ingest_settings):
    """The inbox path is stored masked; the crash-recovery comparison masks the landed path the same way."""
    s = ingest_settings
    path = _land(s, f"u-2/DUPONT {NIR}.txt", b"compte rendu sans numero")
    ingest_batch([path], s)
    (doc,) = Document.select()
    rel = f"u-2/DUPONT {NIR}.txt"
    landed = Landed(path, rel, "u-2", b"", doc.meta["inbox_inode"], doc.meta["inbox_mtime_ns"], 0.0, 0.0)
    assert doc.meta["inbox_path"] == "u-2/DUPONT 1 85 03 ** *** *** **.txt"
    assert batch._same_file(doc.meta, landed)


@pytest.fixture
def api(database, settings):
    api = DataAPI.from_settings(settings)
    yield api
    api.close()


def test_profile_keys_and_values_with_a_nir_are_refused_without_repeating_it(api):
    api.create_profile("u-1", {"mutuelle": "MGEN"})
    for profile in (
        {"notes": {NIR: "mon numéro"}},
        {"notes": {"secu": "1\u202f85\u202f03\u202f75\u202f123\u202f456\u202f41"}},
        {"notes": {"secu": "N° SS : 1 85 03 75 123 456"}},
        {"notes": {"secu": 185037512345641}},
    ):
        with pytest.raises(InvalidProfile) as caught:
            api.update_profile("u-1", profile)
        _no_nir(str(caught.value))
        with pytest.raises(InvalidProfile):
            api.create_profile("u-2", profile)
    assert api.get_profile("u-1").profile == {"mutuelle": "MGEN"}


def test_queries_pathways_and_decisions(api):
    api.create_profile("u-1", {})
    record = api.log_query("u-1", "remboursement pour 1  85  03  75  123  456 / 41 ?", "reimbursement")
    assert record.text == "remboursement pour 1 85 03 ** *** *** ** ?"
    for bad in ({"nir": "NIR185037512345641"}, {"n": [185037512345641]}):
        with pytest.raises(InvalidInput):
            api.log_query("u-1", "ok", "x", bad)
    with pytest.raises(InvalidInput):
        api.store_pathway("u-1", f"asthme {NIR}", {"steps": ["a"]})
    with pytest.raises(InvalidInput):
        api.store_pathway("u-1", "asthme", {"steps": ["a", {"id": "b", "note": "clé: 1 85 03 75 123 456 clé 41"}]})
    pathway = api.store_pathway("u-1", "asthme", {"steps": ["a"]})
    with pytest.raises(InvalidInput):
        api.record_decision("u-1", pathway.id, "a", {"by": "N° 1 85 03 75 123 456\n41"})
    with pytest.raises(InvalidInput):
        api.record_decision("u-1", pathway.id, "a", {NIR: "yes"})
    api.record_decision("u-1", pathway.id, "a", {"choice": "yes", "phone": "01 23 45 67 89", "rpps": "10003456789"})


def test_quarantine_sidecar_and_name_are_masked(tmp_path: Path):
    home = tmp_path / "home"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    landed = inbox / f"DUPONT Jean {NIR}.bin"
    landed.write_bytes(b"\x00\x01")
    entry = quarantine.move_in(str(landed), home, "binary", f"refused {NIR[:13]} (not text)")
    assert entry is not None
    _no_nir(entry.name)
    sidecar = entry.sidecar_path.read_text()
    _no_nir(sidecar)
    assert json.loads(sidecar)["original_name"] == "DUPONT Jean 1 85 03 ** *** *** **.bin"
    assert [e.name for e in quarantine.entries(home)] == [entry.name]


def test_log_lines_are_masked_ours_and_huey_s(settings):
    configure_logging(settings)
    stream = io.StringIO()
    handler = build_handler(settings, stream)
    huey_log = logging.getLogger("huey.consumer.Worker-1")
    ours = logging.getLogger("mediflux.test")
    ours.addHandler(handler)
    huey_log.addHandler(handler)
    try:
        ours.warning("patient %s", "1\u202f85\u202f03\u202f75\u202f123\u202f456\u202f41")
        ours.warning("N° SS : 1 85 03 75 123 456")
        try:
            raise ValueError("no match for NIR185037512345641")
        except ValueError:
            huey_log.exception("Unhandled exception in task %s", "x")
    finally:
        ours.removeHandler(handler)
        huey_log.removeHandler(handler)
    out = stream.getvalue()
    assert out.count("1 85 03 ** *** *** **") >= 3
    _no_nir(out)
