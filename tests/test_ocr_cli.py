"""``mediflux ingest`` takes images and PDFs like the rest; ``mediflux ocr FILE`` shows what would be extracted."""

from __future__ import annotations

import json

from models import Document
from tests import ocr_fixtures as fx
from tests.conftest import run_cli
from tests.ocr_fixtures import database_url, needs_tesseract  # noqa: F401  (fixtures)


def test_ingest_now_ocrs_images_and_pdfs_from_outside_the_inbox(database, env, tmp_path, home):
    outside = tmp_path / "uploads"
    outside.mkdir()
    (outside / "photo.jpg").write_bytes(fx.jpeg_with_orientation(fx.page_image()))
    (outside / "letter.pdf").write_bytes(fx.pdf([("text", fx.LINES)]))
    (outside / "note.txt").write_text("Compte rendu de consultation du 3 mars 2024.\n")
    done = run_cli({**env, "MEDIFLUX_OCR_DPI": "150"}, "ingest", "--now", "--json", "--user", "u-7", str(outside))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["stored"] == 3 and summary["quarantined"] == 0 and summary["files"] == 3
    formats = sorted(d.format for d in Document.select())
    assert formats == ["jpeg", "pdf", "text"]
    assert (outside / "photo.jpg").exists()  # the originals are left alone
    assert not any((home / "inbox" / "u-7").iterdir())
    assert "Paracétamol" not in done.stderr


def test_ocr_command_prints_pages_and_analysis_and_stores_nothing(database, env, tmp_path):
    image = tmp_path / "ordonnance.png"
    image.write_bytes(fx.encode(fx.page_image(fx.LINES + [fx.NIR_LINE]), "PNG"))
    out = run_cli(env, "ocr", "--json", str(image))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["format"] == "png" and data["engine"]["name"] == "tesseract" and data["nirs_masked"] == 1
    assert "paracétamol" in data["pages"][0]["text"].lower() and "116 001" not in out.stdout
    assert data["analysis"]["document_type"] == "ordonnance"
    assert image.exists() and Document.select().count() == 0
    human = run_cli(env, "ocr", str(image))
    assert human.returncode == 0 and "--- page 1 (ocr, confidence 0.9" in human.stdout


def test_ocr_command_refuses_bad_input_with_the_reason(env, tmp_path):
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(fx.encrypted(fx.pdf([("text", fx.LINES)]), "pw"))
    out = run_cli(env, "ocr", str(locked))
    assert out.returncode == 1 and "encrypted_pdf" in out.stderr
    text = tmp_path / "x.txt"
    text.write_text("plain text")
    out = run_cli(env, "ocr", str(text))
    assert out.returncode == 1 and "not an image or a PDF" in out.stderr
