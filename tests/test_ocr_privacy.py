"""Uploaded images are raw health data: kept only with MEDIFLUX_KEEP_PROCESSED=1 (0600, pruned, erased), no
page text in logs, nothing left in the OCR folders, nothing stored for a file removed while it was OCRed."""

from __future__ import annotations

import dataclasses
import logging
import os
import time

import pytest
import time_machine

from models import Document
from tests import ocr_fixtures as fx
from tests.ocr_fixtures import database_url, needs_tesseract  # noqa: F401  (fixtures)
from worker.ingest import batch, ingest_batch
from worker.ocr import run as ocr_run
from worker.ocr import workspace
from worker.ocr.stage import ocr_paths
from worker.retention import erase, prune


@pytest.fixture
def s(settings, database):
    return dataclasses.replace(settings, ingest_grace_seconds=0.0, ocr_dpi=150)


def _ocr(s, user, name, data):
    path = s.inbox / user / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return ocr_paths(ingest_batch([str(path)], s).ocr, s)


def test_kept_images_are_private_pruned_and_erased(s, caplog):
    keep = dataclasses.replace(s, keep_processed=True)
    caplog.set_level(logging.DEBUG, logger="mediflux")  # our loggers (peewee debug-logs its SQL)
    report = _ocr(keep, "u-1", "ordonnance-jeanne.jpg", fx.encode(fx.page_image(), "JPEG"))
    doc = Document.get_by_id(report.stored[0])
    kept = keep.home / doc.meta["processed_path"]
    assert kept.parent == keep.home / "processed" / "u-1" and kept.name == f"{doc.sha256}.jpg"
    assert kept.exists() and oct(kept.stat().st_mode & 0o777) == "0o600"
    assert "Paracétamol" not in caplog.text and "jeanne" not in caplog.text.lower()  # no text, no name
    _ocr(keep, "u-2", "scan.pdf", fx.pdf([("scan", fx.page_image())]))
    other = keep.home / Document.get(Document.format == "pdf").meta["processed_path"]
    assert other.exists() and other.suffix == ".pdf"
    assert erase.erase_user(keep, "u-1").state == "done"
    assert not kept.exists() and other.exists()
    with time_machine.travel(time.time() + 400 * 86400, tick=False):
        prune.prune(keep, categories=("processed",))
    assert not other.exists()


def test_crash_before_the_exit_keeps_the_ocred_image_where_its_row_says(s, monkeypatch):
    """The OCRed photo's row is committed, the process dies before the exit: the next pass keeps the photo at
    the row's processed_path (it is not OCRed again, and not deleted)."""
    keep = dataclasses.replace(s, keep_processed=True)
    path = keep.inbox / "u-1" / "photo.jpg"
    path.parent.mkdir(parents=True)
    path.write_bytes(fx.encode(fx.page_image(), "JPEG"))
    with monkeypatch.context() as m:
        m.setattr(batch, "leave_inbox", lambda *_a: None)
        assert len(ocr_paths(ingest_batch([str(path)], keep).ocr, keep).stored) == 1
    assert path.exists()
    report = ocr_paths(ingest_batch([str(path)], keep).ocr, keep)
    assert report.already_stored == 1 and not report.stored and not report.retry
    doc = Document.get()
    kept = keep.home / doc.meta["processed_path"]
    assert kept.is_file() and kept.suffix == ".jpg" and not path.exists()


def test_without_keep_the_upload_is_deleted_and_no_temporary_file_is_left(s):
    report = _ocr(s, "u-1", "photo.png", fx.encode(fx.page_image(), "PNG"))
    assert len(report.stored) == 1
    assert not (s.home / "processed").exists() or not any((s.home / "processed").rglob("*.png"))
    tmp = workspace.tmp_root(s)
    assert os.listdir(tmp) == [] and oct(tmp.stat().st_mode & 0o777) == "0o700"
    assert oct((s.home / "ocr").stat().st_mode & 0o777) == "0o700"


def test_a_file_removed_while_it_is_ocred_is_not_stored(s, monkeypatch):
    path = s.inbox / "u-1" / "erased.png"
    path.parent.mkdir(parents=True)
    path.write_bytes(fx.encode(fx.page_image(), "PNG"))
    real = ocr_run.run_child

    def run_then_erase(*args, **kwargs):
        result = real(*args, **kwargs)
        os.unlink(path)  # erase-user (or an operator) removed it meanwhile
        return result

    monkeypatch.setattr("worker.ocr.stage.run_child", run_then_erase)
    report = ocr_paths([str(path)], s)
    assert report.gone == 1 and not report.stored and Document.select().count() == 0
