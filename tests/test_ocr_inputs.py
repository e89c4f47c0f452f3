"""Every input kind and every bad input through the real OCR stage (real Tesseract, real child processes).

The same path as production: ingestion routes the file to the OCR stage (``report.ocr``), the stage OCRs
it in a limited child and commits one document through ingestion's own storage; bad input is quarantined
with a reason and the worker goes on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import pytest
from PIL import Image

from models import Document
from tests import ocr_fixtures as fx
from tests.ocr_fixtures import database_url, needs_tesseract  # noqa: F401  (fixtures)
from tests.recording import RecordingTriggers
from worker import quarantine
from worker.ingest import ingest_batch
from worker.ingest.hocr import parse_hocr
from worker.ocr import tesseract
from worker.ocr.sniff import media_kind
from worker.ocr.stage import ocr_paths


@pytest.fixture
def s(settings, database):
    return dataclasses.replace(settings, ingest_grace_seconds=0.0, ocr_dpi=150)


def _land(s, name, data, user="u-1"):
    path = s.inbox / user / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def _through_stage(s, path):
    """Ingestion routes it to OCR; the stage stores it (what the consumer's tasks do)."""
    triggers = RecordingTriggers()
    routed = ingest_batch([path], s, triggers)
    assert routed.ocr == [path] and triggers.ocred == [[path]] and not routed.quarantined
    report = ocr_paths(routed.ocr, s, triggers)
    return report, triggers


def _one_document(s, path):
    report, triggers = _through_stage(s, path)
    assert len(report.stored) == 1, report.summary()
    assert triggers.analysed == [report.stored]  # analysis follows the commit, as for dropped OCR results
    assert not os.path.exists(path)  # removed after the commit
    return Document.get_by_id(report.stored[0])


def _words(doc):
    return doc.text.lower()


@pytest.mark.parametrize(
    "name,data",
    [
        ("scan.png", lambda: fx.encode(fx.page_image(), "PNG")),
        ("photo.webp", lambda: fx.encode(fx.page_image(), "WEBP", quality=90)),
        ("photo.heic", lambda: fx.encode(fx.page_image(), "HEIF", quality=90)),
        ("photo-q60.jpg", lambda: fx.encode(fx.page_image(), "JPEG", quality=60)),
    ],
)
def test_each_image_kind_becomes_one_document_with_ocr_meta(s, name, data):
    doc = _one_document(s, _land(s, name, data()))
    assert "ordonnance" in _words(doc) and "paracétamol" in _words(doc)
    assert doc.format == media_kind(data()[:64])
    page = doc.pages[0]
    assert page["number"] == 1 and 0.5 < page["confidence"] <= 1 and page["words"] >= 10
    ocr = doc.meta["ocr"]
    assert ocr["engine"] == "tesseract" and ocr["version"] == tesseract.version() and ocr["languages"] == "fra"
    assert ocr["timings_ms"]["ocr"] > 0 and ocr["timings_ms"]["total"] >= ocr["timings_ms"]["ocr"]
    assert doc.meta["engine"] == {"name": "tesseract", "version": tesseract.version()}


def test_pages_match_the_same_page_dropped_as_tesseract_hocr(s, tmp_path):
    """The row is the one the dropped-hOCR path gives: same page text, confidence and word count."""
    im = fx.page_image(fx.LINES + [fx.NIR_LINE])
    doc = _one_document(s, _land(s, "scan.png", fx.encode(im, "PNG")))
    image = tmp_path / "page.png"
    im.save(image)
    hocr = tesseract.run_page(tesseract.command(str(image), "fra", None), str(tmp_path), 60)
    dropped = _land(s, "page.hocr", hocr.encode())
    report = ingest_batch([dropped], s)
    other = Document.get_by_id(report.stored[0])
    assert doc.pages == other.pages and doc.text == other.text
    assert doc.meta["nirs_masked"] == other.meta["nirs_masked"] == 1 and "116 001" not in doc.text
    assert parse_hocr(hocr).pages[0].confidence == doc.pages[0]["confidence"]


def test_jpeg_exif_orientation_is_honoured(s):
    doc = _one_document(s, _land(s, "sideways.jpg", fx.jpeg_with_orientation(fx.page_image())))
    assert "docteur martin dupont" in _words(doc)


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_turned_page_is_read_upright(s, angle):
    """A page photographed sideways (90°, 270°: no EXIF to say so) or upside down (180°) is read upright."""
    turned = fx.page_image().rotate(angle, expand=True)
    doc = _one_document(s, _land(s, f"turned-{angle}.png", fx.encode(turned, "PNG")))
    assert "docteur martin dupont" in _words(doc) and "paracétamol" in _words(doc)


def test_photo_under_uneven_light_is_read(s):
    """Half the page in shadow: Tesseract's global Otsu threshold lost the dark half; the stage's adaptive one
    (Sauvola, ``tesseract.THRESHOLDING``) reads it."""
    from PIL import ImageChops

    page = fx.page_image(fx.LINES * 2)
    light = Image.linear_gradient("L").resize(page.size).rotate(90).point(lambda v: int(100 + v * 155 / 255))
    doc = _one_document(s, _land(s, "shadow.png", fx.encode(ImageChops.multiply(page, light), "PNG")))
    text = _words(doc)
    assert text.count("ordonnance") == 2 and text.count("dupont") == 2 and text.count("paracétamol") == 2, text


def test_multipage_tiff_gives_one_page_each(s):
    second = fx.page_image(["DEUXIEME PAGE du compte rendu"])
    doc = _one_document(s, _land(s, "scan.tif", fx.tiff_pages(fx.page_image(), second)))
    assert [p["number"] for p in doc.pages] == [1, 2] and "deuxieme" in doc.pages[1]["text"].lower()
    assert doc.meta["pages"] == 2 and [p["source"] for p in doc.meta["ocr"]["pages"]] == ["ocr", "ocr"]


def test_pdf_text_layer_is_read_without_ocr(s):
    doc = _one_document(s, _land(s, "letter.pdf", fx.pdf([("text", fx.LINES)])))
    assert doc.pages[0]["text"].splitlines()[:2] == fx.LINES[:2] and doc.pages[0]["confidence"] is None
    assert doc.meta["ocr"]["pages"] == [{"number": 1, "source": "text_layer"}]
    assert doc.meta["engine"] == {"name": "pdf_text_layer"}


def test_mixed_pdf_gets_both_and_scanned_pdf_is_ocred(s):
    from worker import metrics

    before = {src: metrics.OCR_PAGES.labels(source=src)._value.get() for src in ("ocr", "text_layer")}
    mixed = _one_document(s, _land(s, "mixed.pdf", fx.pdf([("text", fx.LINES), ("scan", fx.page_image())])))
    after = {src: metrics.OCR_PAGES.labels(source=src)._value.get() for src in ("ocr", "text_layer")}
    assert {k: after[k] - before[k] for k in after} == {"ocr": 1, "text_layer": 1}
    assert [p["source"] for p in mixed.meta["ocr"]["pages"]] == ["text_layer", "ocr"]
    assert "paracétamol" in mixed.pages[1]["text"].lower() and mixed.pages[1]["confidence"] > 0.5
    scanned = _one_document(s, _land(s, "scan.pdf", fx.pdf([("scan", fx.page_image(["COMPTE RENDU operatoire"]))])))
    assert "compte rendu" in _words(scanned) and scanned.meta["engine"]["name"] == "tesseract"


def test_image_without_text_is_stored_empty_with_no_text(s):
    doc = _one_document(s, _land(s, "blank.png", fx.encode(Image.new("L", (500, 300), 255), "PNG")))
    assert doc.text == "" and doc.meta["ocr"]["no_text"] is True and doc.status == "ingested"


def test_pdf_javascript_and_attachments_are_ignored_never_run(s):
    doc = _one_document(s, _land(s, "js.pdf", fx.pdf([("text", fx.LINES)], javascript=True, attachment=True)))
    assert doc.meta["ocr"]["javascript_ignored"] is True and doc.meta["ocr"]["attachments_ignored"] == 1
    assert "attached file" not in doc.text and "alert" not in doc.text


def test_a_page_tree_overstating_its_pages_keeps_the_readable_ones(s):
    """/Count says 2, the PDF has 1 page (pdfium trusts /Count, then fails to load page 2): the page is stored,
    the PDF is not lost; a /Count far beyond the page limit is still refused before any page is read."""
    good = fx.pdf([("text", fx.LINES)])
    doc = _one_document(s, _land(s, "off-by-one.pdf", good.replace(b"/Count 1", b"/Count 2")))
    assert len(doc.pages) == 1 and "paracétamol" in _words(doc)
    assert doc.meta["ocr"]["pages_unreadable"] == 1
    _quarantined(s, "huge-count.pdf", good.replace(b"/Count 1", b"/Count %d" % 10**6), "too_many_pages")


def test_an_unforeseen_decoder_exception_is_an_error_line_with_a_reason(tmp_path, capsys):
    """The child turns any decoder exception into an ``error`` line (type only, no content), not a bare crash."""
    from worker.ocr import child

    (tmp_path / "input").write_bytes(fx.pdf([("scan", fx.page_image())]))
    cfg = {"kind": "pdf", "dpi": "150", "max_pixels": 10**8, "max_pages": 10, "memory_mb": 512}  # dpi: a TypeError
    assert child.run(tmp_path, cfg) == 3
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line == {"error": "decode_failed", "message": "the pdf decoder failed (TypeError)"}


def test_same_photo_twice_is_one_document(s):
    data = fx.encode(fx.page_image(), "PNG")
    first = _one_document(s, _land(s, "a.png", data))
    report, _ = _through_stage(s, _land(s, "again.png", data))
    assert report.stored == [] and report.duplicates == 1
    assert Document.select().count() == 1 and first.id
    other_user = _one_document(s, _land(s, "a.png", data, user="u-2"))  # another owner: their own document
    assert other_user.id != first.id


def _quarantined(s, name, data, reason):
    path = _land(s, name, data)
    report, triggers = _through_stage(s, path)
    assert report.quarantined == 1 and report.reasons == {reason: 1}, report.summary()
    assert not os.path.exists(path) and not report.stored and not triggers.analysed
    (entry,) = [e for e in quarantine.entries(s.home) if e.name == name]
    assert entry.sidecar["reason"] == reason and entry.sidecar["user_id"] == "u-1"
    assert entry.sidecar["format_guess"] == media_kind(data[:1024])
    return entry


@pytest.mark.parametrize(
    "name,data,reason",
    [
        ("half.jpg", lambda: fx.encode(fx.page_image(), "JPEG")[:4000], "truncated_image"),
        ("half.png", lambda: fx.encode(fx.page_image(), "PNG")[:3000], "truncated_image"),
        ("bomb.png", lambda: fx.png_claiming(100_000, 100_000), "too_many_pixels"),
        ("locked.pdf", lambda: fx.encrypted(fx.pdf([("text", fx.LINES)]), "secret"), "encrypted_pdf"),
        ("tree.pdf", lambda: fx.pdf_page_tree_bomb(), "invalid_pdf"),
        ("garbage.pdf", lambda: b"%PDF-1.7\n" + os.urandom(2000), "invalid_pdf"),
    ],
)
def test_bad_input_is_quarantined_with_a_reason(s, name, data, reason):
    entry = _quarantined(s, name, data(), reason)
    assert "ordonnance" not in entry.sidecar["message"].lower()
    # the worker goes on: the next upload is OCRed by the same process
    assert _one_document(s, _land(s, "next.png", fx.encode(fx.page_image(), "PNG")))


@pytest.mark.parametrize("grace", [30.0, 0.0])
def test_a_young_cut_short_image_gets_the_grace_period(s, grace):
    """A photo still being written (cut short, one second old) is left for a retry within
    MEDIFLUX_INGEST_GRACE_SECONDS, as a young text file is; without a grace period it is quarantined."""
    s2 = dataclasses.replace(s, ingest_grace_seconds=grace)
    path = _land(s2, "half.jpg", fx.encode(fx.page_image(), "JPEG")[:4000])
    os.utime(path, (time.time() - 1, time.time() - 1))
    report, triggers = _through_stage(s2, path)
    if grace:
        assert report.retry == [path] and report.reasons == {"young_truncated_image": 1}, report.summary()
        assert os.path.exists(path) and not report.quarantined and not quarantine.entries(s2.home)
    else:
        assert report.quarantined == 1 and report.reasons == {"truncated_image": 1}, report.summary()
        assert not os.path.exists(path) and not triggers.analysed


def test_too_many_pages_is_refused_before_any_ocr(s):
    s2 = dataclasses.replace(s, ocr_max_pages=3)
    many = fx.pdf([("scan", fx.page_image(["page"]))] * 4)
    entry = _quarantined(s2, "long.pdf", many, "too_many_pages")
    assert "3" in entry.sidecar["message"]
    tiff = fx.tiff_pages(*[fx.page_image(["page"])] * 4)
    _quarantined(s2, "long.tif", tiff, "too_many_pages")


def test_deeply_nested_pdf_does_not_hurt_the_worker(s):
    """pdfium bounds its own recursion: the nested junk is never followed; the blank page is stored empty."""
    path = _land(s, "deep.pdf", fx.pdf_deep_nesting())
    report, _ = _through_stage(s, path)
    assert len(report.stored) + report.quarantined == 1 and not os.path.exists(path)
    if report.stored:
        assert Document.get_by_id(report.stored[0]).meta["ocr"]["no_text"] is True


def test_zero_byte_image_is_quarantined_by_ingestion(s):
    path = _land(s, "empty.jpg", b"")
    report = ingest_batch([path], s)
    assert report.quarantined == 1 and report.reasons == {"empty": 1} and not report.ocr


def test_page_time_and_memory_limits_quarantine_and_kill(s):
    slow = dataclasses.replace(s, ocr_page_seconds=1.0, ocr_dpi=600)
    big = fx.pdf([("scan", fx.page_image(fx.LINES * 12, width=1400, size=24))])
    path = _land(slow, "slow.pdf", big)
    report, _ = _through_stage(slow, path)
    assert report.reasons == {"ocr_timeout": 1}, report.summary()
    tight = dataclasses.replace(s, ocr_memory_mb=256, ocr_dpi=600, ocr_max_pixels=200_000_000)
    huge = fx.pdf([("scan", fx.page_image())])
    report, _ = _through_stage(tight, _land(tight, "wide.pdf", huge.replace(b"[0 0 420 595]", b"[0 0 4200 5950]")))
    assert set(report.reasons) <= {"ocr_memory", "ocr_failed"} and report.quarantined == 1, report.summary()
