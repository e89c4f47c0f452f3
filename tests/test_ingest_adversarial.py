"""Bad input: each case ends quarantined (with a sidecar) or skipped with a reason — and nothing is lost."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
import threading
import time
import unicodedata
from pathlib import Path

import pytest

from models import Document
from tests.conftest import ROOT
from tests.ingest_fixtures import one_per_format, sqlite_inbox_settings, variant
from worker.ingest import ingest_batch
from worker.quarantine import entries


@pytest.fixture
def s(tmp_path):
    yield from sqlite_inbox_settings(tmp_path, max_file_mb="1")


def land(s, rel, data: bytes) -> str:
    path = os.path.join(os.fsencode(s.inbox), os.fsencode(rel)) if isinstance(rel, bytes) else str(s.inbox / rel)
    path = os.fsdecode(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def quarantined(s, report, reason):
    assert report.quarantined == 1 and report.stored == [] and not report.retry, report.summary()
    (entry,) = entries(s.home)
    assert entry.sidecar["reason"] == reason
    assert set(entry.sidecar) >= {"reason", "format_guess", "size", "quarantined_at", "user_id"}
    assert Document.select().count() == 0
    return entry


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.json", b"", "empty"),
        ("blank.txt", b"  \n\t\n", "empty"),
        ("truncated.json", b'{"schema": "mediflux.ocr/1", "pages": [{"number": 1, "te', "invalid_json"),
        ("latin1.txt", "Ordonnance du Dr Hélène".encode("latin-1"), "not_utf8"),
        ("garbage.json", bytes(range(256)) * 8, "not_utf8"),
        ("nul.json", b'{"a": "\x00"}', "binary"),
        (
            "escaped-nul.json",
            b'{"schema": "mediflux.ocr/1", "pages": [{"number": 1, "text": "a\\u0000b"}]}',
            "invalid_canonical_json",
        ),  # PostgreSQL cannot store NUL in text
        (
            "escaped-nul-name.json",
            b'{"schema": "mediflux.ocr/1", "source_filename": "x\\u0000.pdf", "pages": [{"text": "ok"}]}',
            "invalid_canonical_json",
        ),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000, "format_mismatch"),
        ("deep2.json", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "invalid_json"),
        ("list.json", b"[1, 2]", "format_mismatch"),
        ("notjson.json", b"hello there", "format_mismatch"),
        ("page.html", b"<html><body>hi</body></html>", "unknown_markup"),
        ("broken.hocr", b"<html><div class='ocr_page'><span>", "invalid_xml"),
        ("empty-page.hocr", b"<html><body><div class='ocr_page' title='bbox 0 0 1 1'></div></body></html>", "no_text"),
        (
            "bad.tsv",
            b"level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
            b"5\tx\t1\t1\t1\t1\t0\t0\t1\t1\t90\tmot\n",
            "invalid_tsv",
        ),
    ],
)
def test_bad_content_is_quarantined_with_its_reason(s, name, data, reason):
    path = land(s, name, data)
    old = time.time() - 3600
    os.utime(path, (old, old))
    entry = quarantined(s, ingest_batch([path], s), reason)
    assert entry.sidecar["size"] == len(data) and not os.path.exists(path)
    sidecar_text = (s.home / "quarantine" / (entry.name + ".error.json")).read_text()
    assert "Hélène" not in sidecar_text and 'mediflux.ocr/1", "pages' not in sidecar_text


@pytest.mark.parametrize(
    "payload",
    [
        # billion laughs
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b'<alto><Layout><Page><TextBlock><TextLine><String CONTENT="&lol2;"/></TextLine></TextBlock></Page>'
        b"</Layout></alto>",
        # external entity (XXE)
        b'<?xml version="1.0"?><!DOCTYPE alto [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<alto><Layout><Page><TextBlock><TextLine><String CONTENT="&xxe;"/></TextLine></TextBlock></Page>'
        b"</Layout></alto>",
    ],
)
def test_xml_bombs_and_external_entities_are_refused(s, payload):
    entry = quarantined(s, ingest_batch([land(s, "x.alto.xml", payload)], s), "xml_forbidden")
    assert entry.sidecar["format_guess"] == "alto"


def test_boms_are_honoured(s):
    text = variant(one_per_format()[".txt"], 1).decode()
    p1 = land(s, "bom8.txt", b"\xef\xbb\xbf" + text.encode())
    p2 = land(s, "bom16.txt", text.encode("utf-16"))
    p3 = land(s, "bom.json", b"\xef\xbb\xbf" + variant(one_per_format()[".json"], 1))
    report = ingest_batch([p1, p2, p3], s)
    assert len(report.stored) == 3 and report.quarantined == 0  # the key is the bytes: three documents
    texts = [d.text for d in Document.select().where(Document.format == "text")]
    assert len(texts) == 2 and texts[0] == texts[1] and not texts[0].startswith("\ufeff")
    assert Document.get(Document.format == "json").pages


def test_too_large_is_quarantined_without_being_read(s):
    path = land(s, "big.txt", b"a " * (600 * 1024))  # 1.2 MB > MEDIFLUX_MAX_FILE_MB=1
    entry = quarantined(s, ingest_batch([path], s), "too_large")
    assert entry.sidecar["size"] == 1200 * 1024


def test_a_directory_named_like_a_file_is_skipped(s):
    folder = s.inbox / "x.json"
    folder.mkdir()
    report = ingest_batch([str(folder)], s)
    assert report.skipped == 1 and report.reasons == {"directory": 1} and folder.is_dir()


def test_symlink_out_of_the_inbox_is_quarantined_not_followed(s, tmp_path):
    secret = tmp_path / "outside.txt"
    secret.write_text("Ordonnance: secret outside the inbox")
    link = s.inbox / "link.txt"
    link.symlink_to(secret)
    entry = quarantined(s, ingest_batch([str(link)], s), "not_regular_file")
    assert "symlink" in entry.sidecar["message"] and secret.read_text().startswith("Ordonnance")
    assert (s.home / "quarantine" / entry.name).is_symlink()


def test_paths_outside_the_inbox_are_never_touched(s, tmp_path):
    outside = tmp_path / "elsewhere.txt"
    outside.write_bytes(variant(one_per_format()[".txt"], 2))
    linked_dir = s.inbox / "u-link"
    linked_dir.symlink_to(tmp_path, target_is_directory=True)
    report = ingest_batch(
        [str(outside), str(s.inbox / ".." / ".." / "elsewhere.txt"), str(linked_dir / "elsewhere.txt")], s
    )
    assert report.skipped == 3 and report.reasons == {"outside_inbox": 3}
    assert outside.exists() and Document.select().count() == 0


def test_fifo_is_never_opened(s):
    fifo = s.inbox / "pipe.json"
    os.mkfifo(fifo)
    done = []
    worker = threading.Thread(target=lambda: done.append(ingest_batch([str(fifo)], s)), daemon=True)
    worker.start()
    worker.join(10)
    assert done, "ingestion blocked on a FIFO"
    entry = quarantined(s, done[0], "not_regular_file")
    assert "fifo" in entry.sidecar["message"]


def test_device_node_is_quarantined(s):
    dev = s.inbox / "dev.txt"
    try:
        os.mknod(dev, 0o600 | 0o020000, os.makedev(1, 3))  # character device (like /dev/null)
    except PermissionError:
        pytest.skip("mknod not permitted here")
    entry = quarantined(s, ingest_batch([str(dev)], s), "not_regular_file")
    assert "character device" in entry.sidecar["message"]


def test_awkward_names_are_ingested(s):
    src = one_per_format()[".txt"]
    names = [
        "line\nbreak.txt",
        unicodedata.normalize("NFC", "ordonnance-é.txt"),
        unicodedata.normalize("NFD", "ordonnance-é.txt"),
        "x" * 251 + ".txt",
    ]
    paths = [land(s, n, variant(src, i)) for i, n in enumerate(names)]
    paths.append(land(s, b"caf\xe9-\xff.txt", variant(src, 9)))  # not UTF-8
    report = ingest_batch(paths, s)
    assert len(report.stored) == 5 and not os.listdir(s.inbox)
    stored = {d.original_filename for d in Document.select()}
    assert "caf\ufffd-\ufffd.txt" in stored and "line\nbreak.txt" in stored and len(stored) == 5


def test_long_and_undecodable_names_fit_in_quarantine(s):
    long_name = "y" * 255
    bad_name = b"bad-\xff\xfe.json"
    p1, p2 = land(s, long_name, b"\x00\x01"), land(s, bad_name, b"{oops")
    old = time.time() - 3600
    for p in (p1, p2):
        os.utime(p, (old, old))
    report = ingest_batch([p1, p2], s)
    assert report.quarantined == 2
    names = os.listdir(os.fsencode(s.home / "quarantine"))
    assert all(len(n) <= 255 for n in names) and len(names) == 4


def test_file_deleted_before_processing_is_just_gone(s):
    path = land(s, "gone.txt", b"hello")
    os.unlink(path)
    report = ingest_batch([path], s)
    assert report.gone == 1 and report.quarantined == 0 and not entries(s.home)


def test_file_replaced_before_processing_stores_the_current_version(s):
    src = one_per_format()[".txt"]
    path = land(s, "r.txt", variant(src, 1))
    land(s, "r.txt.new", variant(src, 2))
    os.rename(str(s.inbox / "r.txt.new"), path)  # replaced between the event and the processing
    report = ingest_batch([path], s)
    assert len(report.stored) == 1 and "réf. 2" in Document.get().text


def test_file_still_being_written_is_retried_not_quarantined(s):
    slow = dataclasses.replace(s, ingest_grace_seconds=30.0)
    path = land(s, "partial.json", b'{"schema": "mediflux.ocr/1", "pages": [{"num')  # writer not done
    report = ingest_batch([path], slow)
    assert report.retry == [path] and report.quarantined == 0 and os.path.exists(path)
    Path(path).write_bytes(variant(one_per_format()[".json"], 1))  # the writer finishes
    assert len(ingest_batch([path], slow).stored) == 1


def test_zero_byte_file_just_created_waits(s):
    slow = dataclasses.replace(s, ingest_grace_seconds=30.0)
    path = land(s, "new.txt", b"")
    assert ingest_batch([path], slow).retry == [path] and os.path.exists(path)


def test_invalid_user_folder_is_quarantined(s):
    path = land(s, "bad user!/x.txt", variant(one_per_format()[".txt"], 1))
    quarantined(s, ingest_batch([path], s), "invalid_user_folder")


def test_database_locked_leaves_files_for_a_retry(s):
    from models import db

    path = land(s, "x.txt", variant(one_per_format()[".txt"], 5))
    db.close()
    db.obj._timeout = 0.2
    other = sqlite3.connect(str(s.sqlite_path), isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        report = ingest_batch([path], s)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert report.retry == [path] and report.reasons == {"database_unavailable": 1} and os.path.exists(path)
    assert not entries(s.home)
    assert len(ingest_batch([path], s).stored) == 1


def test_unreadable_file_is_quarantined(s):
    """Root reads anything, so the ingest runs in a child without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH."""
    path = land(s, "secret.txt", variant(one_per_format()[".txt"], 1))
    os.chmod(path, 0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIFLUX_")}
    env.update(MEDIFLUX_HOME=str(s.home), MEDIFLUX_INGEST_GRACE_SECONDS="0")
    code = (
        f"from worker.ingest import ingest_batch; from worker.runtime import bootstrap; "
        f"print(ingest_batch([{path!r}], bootstrap().settings).summary())"
    )
    cmd = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        cmd = [
            "setpriv",
            "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search",
            *cmd,
        ]
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "'quarantined': 1" in out.stdout
    (entry,) = entries(s.home)
    assert entry.sidecar["reason"] == "unreadable"


def test_crash_between_sidecar_and_move_leaves_no_file_without_reason(s):
    """The sidecar is written first; if the process dies before the rename, the file is still in the inbox
    and the next pass quarantines it over the orphan sidecar."""
    path = land(s, "bad.json", b"{oops")
    q = s.home / "quarantine"
    q.mkdir()
    (q / "bad.json.error.json").write_text('{"reason": "invalid_json"}')  # the orphan a crash leaves
    report = ingest_batch([path], s)
    assert report.quarantined == 1 and sorted(os.listdir(q)) == ["bad.json", "bad.json.error.json"]
    assert entries(s.home)[0].sidecar["size"] == 5
    land(s, "x.error.json", b"{no")  # a landed name that looks like a sidecar is still listed
    ingest_batch([str(s.inbox / "x.error.json")], s)
    assert sorted(e.name for e in entries(s.home)) == ["bad.json", "x.error.json.q"]


def test_a_folder_swapped_for_a_link_during_a_batch_is_resolved_again(s, tmp_path):
    """Each file is found again from the inbox's descriptor: a user folder replaced by a symlink out of the
    inbox between two files of one batch is not trusted from the first walk (the race itself:
    test_ingest_symlink_race.py)."""
    from worker.dirfd import Folders
    from worker.ingest.files import Skipped, inbox_relative, locate

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "b.txt").write_text("secret")
    folder = s.inbox / "u-1"
    folder.mkdir()
    (folder / "a.txt").write_text("mine")
    with Folders(s.inbox) as dirs:
        assert locate(str(folder / "a.txt"), dirs)[0] == "u-1/a.txt"
        (folder / "a.txt").unlink()
        folder.rmdir()
        folder.symlink_to(outside)
        with pytest.raises(Skipped):
            locate(str(folder / "b.txt"), dirs)
    with pytest.raises(Skipped):  # '..' after a link: the kernel would follow the link first
        inbox_relative(str(folder / ".." / "x.txt"), s.inbox)
    with pytest.raises(Skipped):
        inbox_relative(str(folder / "b.txt"), s.inbox)
    report = ingest_batch([str(folder / "b.txt")], s)
    assert report.stored == [] and (outside / "b.txt").exists()
