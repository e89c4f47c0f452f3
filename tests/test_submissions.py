"""Submit, follow, get (issue 18), in process, on SQLite and PostgreSQL: states, reasons, idempotency, isolation."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import json
import os
import threading

import pytest

from models import Document, Submission
from worker.analysis import runner
from worker.api import (
    AsyncDataAPI,
    DataAPI,
    FileTooLarge,
    InvalidInput,
    UnknownDocument,
    UnknownSubmission,
    UnsupportedType,
    as_json,
)
from worker.ingest import ingest_paths
from worker.submissions import ledger, reasons

ORDONNANCE = (
    "Dr Jean Martin\nMédecin généraliste\nRPPS 10003456789\nOrdonnance du 12/03/2026\n"
    "DOLIPRANE 1000 mg comprimé\n1 comprimé 3 fois par jour pendant 5 jours\n"
)


def canonical(text: str = ORDONNANCE, **extra) -> bytes:
    return json.dumps({"schema": "mediflux.ocr/1", "pages": [{"text": text}], **extra}).encode()


def no_lookup(term):
    return []


@pytest.fixture
def quick(settings):
    return dataclasses.replace(settings, ingest_grace_seconds=0)


@pytest.fixture
def api(database, quick):
    api = DataAPI.from_settings(quick)
    yield api
    api.close()


def inbox_files(settings):
    return sorted(p for p in settings.inbox.rglob("*") if p.is_file())


def process(settings):
    """What the watcher and consumer do, in process: ingest the inbox, then analyse what was stored."""
    report = ingest_paths([str(p) for p in inbox_files(settings)], settings)
    runner.analyze_batch(report.stored, no_lookup)
    return report


def test_submit_follow_get_a_canonical_json(api, quick):
    sub = api.submit_document("u-1", canonical(), "ordonnance.json", content_type="application/json")
    assert sub.state == "received" and not sub.final and sub.document_id is None
    assert len(sub.id) >= 20 and not sub.id.isdigit()
    files = inbox_files(quick)
    assert [p.relative_to(quick.inbox).as_posix() for p in files] == [f"u-1/{sub.id}.json"]  # no temp file left
    process(quick)
    done = api.wait_for_document("u-1", sub.id, timeout=5)
    assert done.state == "analysed" and done.final and done.document_id
    assert done.summary["document_type"] == "ordonnance" and done.summary["medications"] >= 1
    assert done.reason is None and done.message is None
    doc = api.get_document("u-1", done.document_id)
    assert doc.original_filename == "ordonnance.json"
    assert "DOLIPRANE" in doc.pages[0]["text"] and doc.analysis["document_type"] == "ordonnance"
    assert doc.medications and doc.medications[0]["name"]["value"]
    assert as_json(done)["state"] == "analysed"
    assert [s.id for s in api.list_submissions("u-1")] == [sub.id]


def test_same_bytes_twice_is_the_first_submission_and_another_user_gets_its_own(api, quick):
    first = api.submit_document("u-1", canonical(), "a.json")
    again = api.submit_document("u-1", io.BytesIO(canonical()), "b.json")
    other = api.submit_document("u-2", canonical(), "a.json")
    assert again.id == first.id and other.id != first.id
    assert len(inbox_files(quick)) == 2
    process(quick)
    a, b = api.document_status("u-1", first.id), api.document_status("u-2", other.id)
    assert a.state == b.state == "analysed" and a.document_id != b.document_id
    assert api.submit_document("u-1", canonical(), "c.json").id == first.id  # after ingestion too
    assert len(inbox_files(quick)) == 0


def test_isolation_between_users(api, quick):
    sub = api.submit_document("u-1", canonical(), "a.json")
    process(quick)
    doc_id = api.document_status("u-1", sub.id).document_id
    api.submit_document("u-2", canonical("autre"), "x.json")
    with pytest.raises(UnknownSubmission):
        api.document_status("u-2", sub.id)
    with pytest.raises(UnknownDocument):
        api.get_document("u-2", doc_id)
    with pytest.raises(UnknownDocument):
        api.get_document("u-1", doc_id + 1000)
    assert api.list_submissions("u-2")[0].id != sub.id and len(api.list_submissions("u-2")) == 1


def test_limits_are_checked_before_anything_is_written(api, quick, tmp_path):
    small = dataclasses.replace(quick, max_file_mb=1)
    tiny = DataAPI(api.backend, small)
    with pytest.raises(FileTooLarge) as err:
        tiny.submit_document("u-1", b"x" * (1024 * 1024 + 1), "big.txt")
    assert err.value.code == "file_too_large"
    gif = tmp_path / "scan.gif"
    gif.write_bytes(b"GIF89a" + b"\x00" * 100)
    for data, kwargs in ((gif, {}), (b"PK\x03\x04zip", {}), (b"bonjour", {"content_type": "image/jpeg"})):
        with pytest.raises(UnsupportedType) as err:
            api.submit_document("u-1", data, "scan", **kwargs)
        assert err.value.code == "unsupported_type"
    for user, data in (("../x", b"a"), ("u-1", b"")):
        with pytest.raises(InvalidInput):
            api.submit_document(user, data, "a.txt")
    assert Submission.select().count() == 0
    assert not quick.inbox.exists() or inbox_files(quick) == []


def _pipe(data: bytes) -> tuple[io.FileIO, threading.Thread]:
    """An unbuffered file object on a pipe a thread writes ``data`` to in 4 KiB pieces: each ``read()`` returns
    at most what the pipe holds (64 KiB), not what was asked."""
    r, w = os.pipe()

    def write():
        with io.FileIO(w, "wb") as f:
            try:
                for i in range(0, len(data), 4096):
                    f.write(data[i : i + 4096])
            except BrokenPipeError:  # the reader stopped one byte past the limit
                pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return io.FileIO(r, "rb"), writer


def test_an_upload_from_a_pipe_is_read_whole_not_cut_at_the_first_short_read(api, quick):
    data = canonical("x" * 300_000)
    src, writer = _pipe(data)
    with src:
        sub = api.submit_document("u-1", src, "a.json")
    writer.join(5)
    assert sub.size == len(data) and sub.sha256 == hashlib.sha256(data).hexdigest()
    [path] = inbox_files(quick)
    assert path.read_bytes() == data
    tiny = DataAPI(api.backend, dataclasses.replace(quick, max_file_mb=1))
    src, writer = _pipe(b"x" * (1024 * 1024 + 100))
    with src, pytest.raises(FileTooLarge):  # past the limit, though no single read() was
        tiny.submit_document("u-2", src, "big.txt")
    writer.join(5)


@pytest.mark.parametrize(
    ("data", "name", "code", "internal"),
    [
        (b"{not json", "a.json", reasons.MALFORMED, "invalid_json"),
        (json.dumps({"schema": "mediflux.ocr/1"}).encode(), "a.json", reasons.MALFORMED, "invalid_canonical_json"),
        (b"<html><body>rien</body></html>", "a.hocr", reasons.UNSUPPORTED, "unknown_markup"),
        (b"   \n  ", "a.txt", reasons.EMPTY, "empty"),
        (b"bonjour", "a.json", reasons.UNSUPPORTED, "format_mismatch"),
        (b"\xff\xfe\xfd abc", "a.txt", reasons.UNSUPPORTED, "not_utf8"),
        (canonical(user_id="u-9"), "a.json", reasons.WRONG_USER, "user_mismatch"),
    ],
)
def test_a_bad_file_becomes_a_rejected_submission_with_a_patient_message(api, quick, data, name, code, internal):
    sub = api.submit_document("u-1", data, name)
    assert sub.state == "received"
    process(quick)
    done = api.document_status("u-1", sub.id)
    assert (done.state, done.reason) == ("rejected", code) and done.final
    assert set(done.message) == {"fr", "en"} and all(done.message.values())
    text = json.dumps(done.message)
    assert "/" not in text and sub.id not in text and "u-1" not in text and "_" not in text
    assert Submission.get_by_id(sub.id).reason == internal
    assert not inbox_files(quick)  # quarantined


def test_files_dropped_by_hand_get_submissions_too(api, quick):
    folder = quick.inbox / "u-1"
    folder.mkdir(parents=True)
    (folder / "scan-1.json").write_bytes(canonical())
    process(quick)
    (folder / "scan-2.json").write_bytes(canonical())  # the same bytes again
    (folder / "broken.json").write_bytes(b"{")
    (quick.inbox / "big.txt").write_bytes(b"x")
    huge = dataclasses.replace(quick, max_file_mb=1)
    (folder / "huge.txt").write_bytes(b"x" * (1024 * 1024 + 10))
    ingest_paths([str(p) for p in inbox_files(quick)], huge)
    states = [(s.state, s.reason, s.filename) for s in api.list_submissions("u-1")]
    assert sorted(states, key=str) == sorted(
        [
            ("analysed", None, "scan-1.json"),
            ("duplicate", None, "scan-2.json"),
            ("rejected", reasons.MALFORMED, "broken.json"),
            ("rejected", reasons.TOO_LARGE, "huge.txt"),
        ],
        key=str,
    )
    dup = api.list_submissions("u-1", state="duplicate")[0]
    assert dup.document_id == api.list_submissions("u-1", state="analysed")[0].document_id
    assert api.submit_document("u-1", canonical(), "again.json").state == "analysed"  # the first one
    with pytest.raises(InvalidInput):
        api.list_submissions("u-1", state="nope")


def test_rejection_recorded_once_when_the_move_to_quarantine_is_lost(api, quick):
    sub = api.submit_document("u-1", b"{", "a.json")
    rel = f"u-1/{sub.id}.json"
    ledger.record_rejected(rel, "u-1", None, 1, "invalid_json")  # committed, then the process died
    process(quick)  # the file is still there: quarantined again
    assert Submission.select().count() == 1 and api.document_status("u-1", sub.id).state == "rejected"


def test_ocr_state_is_one_function_away(api, quick):
    sub = api.submit_document("u-1", canonical(), "a.json")
    assert ledger.mark_ocr(sub.id) and api.document_status("u-1", sub.id).state == "ocr"
    assert not ledger.mark_ocr(sub.id)
    process(quick)
    assert api.document_status("u-1", sub.id).state == "analysed"


def test_wait_returns_the_current_state_at_timeout(api):
    sub = api.submit_document("u-1", canonical(), "a.json")
    assert api.wait_for_document("u-1", sub.id, timeout=0.05).state == "received"


def test_async_submit_and_many_waiters_share_one_poll(database, quick):
    async def main():
        api = AsyncDataAPI.from_settings(quick)
        try:
            subs = [await api.submit_document(f"u-{i}", canonical(f"texte {i}"), "a.txt") for i in range(20)]
            assert {s.state for s in subs} == {"received"}
            worker = threading.Thread(target=process, args=(quick,))
            waiters = [
                asyncio.create_task(api.wait_for_document(s.user_id if False else f"u-{i}", s.id, 30))
                for i, s in enumerate(subs)
            ]
            await asyncio.sleep(0.2)
            worker.start()
            done = await asyncio.gather(*waiters)
            await asyncio.to_thread(worker.join)
            assert {d.state for d in done} == {"analysed"}
            with pytest.raises(UnknownSubmission):
                await api.wait_for_document("u-0", subs[1].id, 1)
            doc = await api.get_document("u-0", done[0].document_id)
            assert doc.pages and (await api.list_submissions("u-0"))[0].id == subs[0].id
        finally:
            await api.close()

    asyncio.run(main())
    assert Document.select().count() == 20


def test_erase_export_and_prune_cover_submissions(api, quick):
    import datetime as dt

    from worker.retention.erase import erase_user
    from worker.retention.export import export_user
    from worker.retention.prune import prune

    done = api.submit_document("u-1", canonical(), "a.json")
    process(quick)
    waiting = api.submit_document("u-2", canonical(), "b.json")  # not ingested yet: no user row for u-2
    assert [s["id"] for s in export_user(quick, "u-1")["submissions"]] == [done.id]
    assert export_user(quick, "u-2")["submissions"][0]["state"] == "received"
    erase_user(quick, "u-2")
    assert not Submission.select().where(Submission.user_id == "u-2").exists()
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=quick.retention.submissions + 1)
    again = api.submit_document("u-3", canonical("x"), "c.txt")  # still on its way: kept
    with_rows = {r.category: r.rows for r in prune(quick, later, categories=("submissions",))}
    assert with_rows == {"submissions": 1}
    assert [s.id for s in Submission.select()] == [again.id]
    assert waiting.id != done.id


def test_dashboard_lists_submissions_by_state_without_names(api, quick):
    from worker.dashboard import data, pages

    api.submit_document("u-secret", canonical(), "Dupont-ordonnance.json")
    api.submit_document("u-secret", b"{", "Dupont-broken.json")
    process(quick)
    subs = data.submissions()
    assert subs["by_state"]["analysed"] == 1 and subs["by_state"]["rejected"] == 1
    html = pages.documents_page({**data.documents(quick), "submissions": subs}, actions=False)
    assert "latest-submissions" in html and "u-secret" not in html and "Dupont" not in html


def test_concurrent_submits_of_the_same_bytes_make_one_submission(database, quick):
    async def main():
        api = AsyncDataAPI.from_settings(quick)
        try:
            subs = await asyncio.gather(*(api.submit_document("u-1", canonical(), f"{i}.json") for i in range(10)))
        finally:
            await api.close()
        return subs

    subs = asyncio.run(main())
    assert len({s.id for s in subs}) == 1
    assert Submission.select().count() == 1 and len(inbox_files(quick)) == 1
    sync = DataAPI.from_settings(quick)
    try:
        threads = [threading.Thread(target=sync.submit_document, args=("u-2", canonical(), "x.json")) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sync.close()
    assert Submission.select().where(Submission.user_id == "u-2").count() == 1 and len(inbox_files(quick)) == 2


def test_a_hand_drop_of_submitted_bytes_in_the_same_batch_is_a_duplicate(api, quick):
    sub = api.submit_document("u-1", canonical(), "a.json")
    (quick.inbox / "u-1" / "copy.json").write_bytes(canonical())
    process(quick)
    subs = api.list_submissions("u-1")
    assert sorted(s.state for s in subs) == ["analysed", "duplicate"]  # which one is first depends on the batch order
    assert len(subs) == 2 and sub.id in {s.id for s in subs} and subs[0].document_id == subs[1].document_id


def test_an_uploaded_photo_goes_through_the_ocr_stage(api, quick):
    """Images and PDFs are submitted like OCR results; the OCR stage moves the submission to ``ocr`` when it
    takes the file, then ingestion's commit to ``ingested`` and the analysis to ``analysed``."""
    from tests import ocr_fixtures as fx
    from tests.recording import RecordingTriggers
    from worker.ocr import stage

    fx.require_tesseract()
    sub = api.submit_document("u-1", fx.encode(fx.page_image(), "PNG"), "ordonnance.json", content_type="image/png")
    [path] = inbox_files(quick)
    assert sub.state == "received" and path.name == f"{sub.id}.png"  # a photo keeps its kind's extension
    triggers = RecordingTriggers()
    ingest_paths([str(path)], quick, triggers)
    assert triggers.ocred == [[str(path)]] and api.document_status("u-1", sub.id).state == "received"
    seen = []
    real_mark = ledger.mark_ocr_at

    def mark(rel):
        taken = real_mark(rel)
        seen.append(api.document_status("u-1", sub.id).state)
        return taken

    stage.ledger.mark_ocr_at = mark
    try:
        report = stage.ocr_paths([str(path)], quick, triggers)
    finally:
        stage.ledger.mark_ocr_at = real_mark
    assert seen == ["ocr"]
    ingested = api.document_status("u-1", sub.id)
    assert ingested.state == "ingested" and ingested.document_id == report.stored[0]
    runner.analyze_batch(report.stored, no_lookup)
    done = api.wait_for_document("u-1", sub.id, timeout=5)
    assert done.state == "analysed" and "Paracétamol" in api.get_document("u-1", done.document_id).pages[0]["text"]


def test_no_nir_in_clear_in_a_submission(api, quick):
    """A file name with a NIR: refused from the app (like every NIR in the data API), stored masked in the
    submission of a file dropped by hand."""
    nir = "1 85 03 75 123 456 41"  # key 41 for 1850375123456
    with pytest.raises(InvalidInput):
        api.submit_document("u-1", canonical(), f"DUPONT Jean {nir}.json")
    sub = api.submit_document("u-1", canonical(), "ordonnance.json")
    (quick.inbox / "u-1").mkdir(parents=True, exist_ok=True)
    (quick.inbox / "u-1" / f"Compte rendu {nir.replace(' ', '')}.txt").write_text("Compte rendu sans NIR\n")
    process(quick)
    rows = [(s.filename, s.inbox_path) for s in Submission.select()]
    assert len(rows) == 2 and api.document_status("u-1", sub.id).state == "analysed"
    for filename, inbox_path in rows:
        for value in (filename, inbox_path):
            assert "123 456" not in value and "123456" not in value, value


def test_a_consumer_starting_between_the_commit_and_the_rename_takes_the_file_and_submit_still_returns(
    api, quick, monkeypatch
):
    """Once its row is committed the ledger owns the file: a consumer that starts right then settles the synced
    temporary file into place and ingests it; the app's own rename then finds nothing to do, and is no error."""
    from tests.recording import RecordingTriggers
    from worker.appdata import documents
    from worker.submissions import recover

    triggers = RecordingTriggers(on_ingest=lambda paths: ingest_paths(paths, quick))
    record = documents.record

    def record_then_a_consumer_starts(b, p):
        view = record(b, p)
        recover.rediscover(quick, triggers, recover.utcnow() + recover.SETTLE)  # what at_startup does
        return view

    monkeypatch.setattr(documents, "record", record_then_a_consumer_starts)
    sub = api.submit_document("u-1", canonical(), "a.json")
    assert triggers.batches, "the starting consumer found the submission and ingested it"
    assert inbox_files(quick) == []  # taken by that ingestion, not left under either name
    assert api.document_status("u-1", sub.id).state == "ingested" and Document.select().count() == 1


def test_after_a_rejection_a_retry_can_cure_the_same_bytes_make_a_new_submission(api, quick):
    """ "Try again later" can be followed: a ``lost`` upload sent again is a new submission that gets analysed;
    a permanently refused one (malformed) answers with its rejection again."""
    from tests.recording import RecordingTriggers
    from worker.submissions import recover

    first = api.submit_document("u-1", canonical(), "a.json")
    for path in inbox_files(quick):
        path.unlink()  # the file vanished (a disk restored from an old backup, an operator's mistake)
    recover.rediscover(quick, RecordingTriggers(), recover.utcnow() + recover.LOST_AFTER + recover.SETTLE)
    lost = api.document_status("u-1", first.id)
    assert lost.state == "rejected" and lost.reason == "processing_failed"
    again = api.submit_document("u-1", canonical(), "a.json")
    assert again.id != first.id and again.state == "received"
    assert api.submit_document("u-1", canonical(), "a.json").id == again.id  # idempotent again from here
    process(quick)
    assert api.document_status("u-1", again.id).state == "analysed"
    assert api.document_status("u-1", first.id).state == "rejected"  # the history keeps both
    bad = b'{"schema": "mediflux.ocr/1", "pages": ['
    refused = api.submit_document("u-1", bad, "b.json")
    process(quick)
    assert api.document_status("u-1", refused.id).reason == "malformed_document"
    assert api.submit_document("u-1", bad, "b.json").id == refused.id  # the same bytes, the same answer


@pytest.fixture
def announcing(quick):
    """Webhooks on (deliveries written to the outbox; their attempts recorded, not sent)."""
    from tests.recording import RecordingTriggers
    from worker.triggers import NO_QUEUE
    from worker.webhooks import outbox

    triggers = RecordingTriggers()
    outbox.configure(dataclasses.replace(quick, webhook_url="https://hooks.example.org/m"), triggers)
    yield triggers
    outbox.configure(quick, NO_QUEUE)


def _deliveries(submission_id):
    from models import WebhookDelivery

    return [
        (d.event, json.loads(d.body)["data"])
        for d in WebhookDelivery.select().where(WebhookDelivery.submission_id == submission_id)
    ]


def test_a_lost_submission_is_rejected_and_announced_once(api, quick, announcing):
    from tests.recording import RecordingTriggers
    from worker.submissions import recover

    sub = api.submit_document("u-1", canonical(), "a.json")
    [path] = inbox_files(quick)
    path.unlink()  # gone, no trace
    triggers = RecordingTriggers()
    later = recover.utcnow() + recover.LOST_AFTER + recover.SETTLE
    assert recover.rediscover(quick, triggers, later)["lost"] == 1
    row = Submission.get_by_id(sub.id)
    assert row.state == "rejected" and row.reason == "lost"
    expected = {
        "submission_id": sub.id,
        "state": "rejected",
        "reason": reasons.reason_code("lost"),
        "document_id": None,
    }
    assert _deliveries(sub.id) == [("rejected", expected)]
    assert recover.rediscover(quick, triggers, later)["lost"] == 0
    assert len(_deliveries(sub.id)) == 1 and triggers.batches == []


def test_a_submission_left_in_ocr_by_a_killed_consumer_is_routed_to_ocr_again(api, quick):
    """SIGKILL mid-OCR drops the task and leaves the submission ``ocr``, its file in the inbox: the rediscovery
    triggers ingestion for it again, which sends it to the OCR stage again."""
    from tests import ocr_fixtures as fx
    from tests.recording import RecordingTriggers
    from worker.submissions import recover

    sub = api.submit_document("u-1", fx.encode(fx.page_image(), "PNG"), "scan.png", content_type="image/png")
    [path] = inbox_files(quick)
    assert ledger.mark_ocr_at(f"u-1/{path.name}")  # the OCR stage took it, then its process was killed
    triggers = RecordingTriggers()
    triggers.on_ingest = lambda paths: ingest_paths(paths, quick, triggers)
    assert recover.rediscover(quick, triggers, recover.utcnow() + recover.SETTLE)["ingest"] == 1
    assert triggers.batches == [[str(path)]] and triggers.ocred == [[str(path)]]
    assert api.document_status("u-1", sub.id).state == "ocr" and inbox_files(quick) == [path]


def test_a_file_removed_during_its_ocr_ends_rejected_lost_and_announced(api, quick, announcing, monkeypatch):
    """The OCR stage stores nothing for a file removed while it was OCRed; its submission, left ``ocr``, is
    ``rejected`` (``lost``) by the rediscovery once the file has been gone for ``LOST_AFTER``."""
    from tests import ocr_fixtures as fx
    from tests.recording import RecordingTriggers
    from worker.ocr import stage
    from worker.submissions import recover

    fx.require_tesseract()
    sub = api.submit_document("u-1", fx.encode(fx.page_image(), "PNG"), "scan.png", content_type="image/png")
    [path] = inbox_files(quick)
    real_mark = ledger.mark_ocr_at

    def mark_then_removed(rel):
        taken = real_mark(rel)
        path.unlink()  # an operator removes it while it is OCRed
        return taken

    monkeypatch.setattr(stage.ledger, "mark_ocr_at", mark_then_removed)
    report = stage.ocr_paths([str(path)], quick, RecordingTriggers())
    assert report.gone == 1 and report.stored == [] and api.document_status("u-1", sub.id).state == "ocr"
    triggers = RecordingTriggers()
    assert recover.rediscover(quick, triggers, recover.utcnow() + recover.SETTLE)["lost"] == 0  # not yet
    later = recover.utcnow() + recover.LOST_AFTER + recover.SETTLE
    assert recover.rediscover(quick, triggers, later)["lost"] == 1
    row = Submission.get_by_id(sub.id)
    assert row.state == "rejected" and row.reason == "lost" and [e for e, _ in _deliveries(sub.id)] == ["rejected"]


@pytest.mark.parametrize(
    ("internal", "code"),
    [
        ("invalid_image", reasons.MALFORMED),
        ("truncated_image", reasons.MALFORMED),
        ("invalid_pdf", reasons.MALFORMED),
        ("decode_failed", reasons.MALFORMED),
        ("encrypted_pdf", reasons.UNSUPPORTED),
        ("too_many_pages", reasons.TOO_LARGE),
        ("too_many_pixels", reasons.TOO_LARGE),
        ("ocr_timeout", reasons.FAILED),
        ("ocr_memory", reasons.FAILED),
        ("ocr_failed", reasons.FAILED),
    ],
)
def test_an_ocr_refusal_tells_the_patient_what_is_wrong_with_the_file(api, quick, internal, code):
    """A bad image or PDF is the file's fault (damaged, unsupported, too large): not "try again later", which only
    the OCR stage's own failures say."""
    sub = api.submit_document("u-1", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "scan.png", content_type="image/png")
    ledger.record_rejected(f"u-1/{sub.id}.png", "u-1", sub.sha256, sub.size, internal)  # as the OCR stage does
    done = api.document_status("u-1", sub.id)
    assert (done.state, done.reason, done.message) == ("rejected", code, reasons.message(code))
    assert Submission.get_by_id(sub.id).reason == internal  # the operator's detail stays in the row


def test_an_encrypted_pdf_through_the_ocr_stage_is_an_unsupported_format(api, quick):
    from tests import ocr_fixtures as fx
    from tests.recording import RecordingTriggers
    from worker.ocr import stage

    fx.require_tesseract()
    data = fx.encrypted(fx.pdf([("text", ["Ordonnance"])]), "secret")
    sub = api.submit_document("u-1", data, "scan.pdf", content_type="application/pdf")
    stage.ocr_paths([str(p) for p in inbox_files(quick)], quick, RecordingTriggers())
    done = api.document_status("u-1", sub.id)
    assert (done.state, done.reason) == ("rejected", reasons.UNSUPPORTED)
    assert Submission.get_by_id(sub.id).reason == "encrypted_pdf"


def test_an_orphan_temporary_file_is_removed_after_an_hour_and_nothing_else_is(api, quick):
    """A crash between ``write_temp`` and the commit of the row leaves ``<id>.tmp`` (patient data) with no
    submission: the ``housekeeping`` job removes it once an hour old; every other file stays."""
    import os
    import time

    from models.clock import utcnow
    from worker import housekeeping
    from worker.periodic import JobContext
    from worker.submissions import recover

    folder = quick.inbox / "u-1"
    folder.mkdir(parents=True)
    ledger.record_rejected("u-1/x.json", "u-1", None, 1, "invalid_json")
    (row,) = Submission.select()
    old = time.time() - 2 * 3600
    orphan = folder / f"{ledger.new_id()}.tmp"
    kept = {
        "young": folder / f"{ledger.new_id()}.tmp",
        "has a row": folder / f"{row.id}.tmp",
        "not an id": folder / "notes.tmp",
        "not a tmp": folder / f"{ledger.new_id()}.json",
        "at the root": quick.inbox / f"{ledger.new_id()}.tmp",
        "outside": quick.home / "outside.txt",
    }
    for path in (orphan, *kept.values()):
        path.write_bytes(b"Compte rendu\n")
        if path is not kept["young"]:
            os.utime(path, (old, old))
    link = folder / f"{ledger.new_id()}.tmp"
    link.symlink_to(kept["outside"])
    os.utime(link, (old, old), follow_symlinks=False)
    ctx = JobContext("housekeeping", utcnow(), time.monotonic() + 60, quick)
    assert housekeeping.run(ctx)["orphan_temps_removed"] == 1 and not orphan.exists()
    assert all(path.exists() for path in kept.values()) and link.is_symlink()
    assert recover.remove_orphan_temps(quick, utcnow()) == 0


def _submission_traces(settings, user_id: str) -> int:
    from models import AccessLog
    from worker.userkeys import user_key

    key = user_key(settings, user_id)
    return AccessLog.select().where((AccessLog.user_key == key) & (AccessLog.resource == "submissions")).count()


def test_follow_document_yields_each_state_seen_and_leaves_one_trace(database, quick):
    """A live view (the reference app's SSE): the current state first, each change after it, the stream ends at
    the first final state; the whole stream is one access trace, not one per look."""
    api = DataAPI.from_settings(quick)
    try:
        sub = api.submit_document("u-1", canonical(), "a.json")
        started = threading.Event()
        worker = threading.Thread(target=lambda: (started.wait(10), process(quick)))
        worker.start()
        seen = []
        for state in api.follow_document("u-1", sub.id, timeout=60):
            seen.append(state.state)
            started.set()
        worker.join(30)
        assert seen[0] == "received" and seen[-1] == "analysed", seen
        assert len(seen) == len(set(seen)) and set(seen) <= {"received", "ingested", "analysed"}
        quiet = list(api.follow_document("u-1", sub.id, timeout=0))  # already final: one look
        assert [s.state for s in quiet] == ["analysed"]
    finally:
        api.close()
    assert _submission_traces(quick, "u-1") == 2  # one per follow, whatever the number of looks


def test_async_follow_document_yields_each_state_and_leaves_one_trace(database, quick):
    async def main() -> list[str]:
        api = AsyncDataAPI.from_settings(quick)
        try:
            sub = await api.submit_document("u-2", canonical(), "b.json")
            seen: list[str] = []
            later = None
            async for state in api.follow_document("u-2", sub.id, timeout=60):
                seen.append(state.state)
                if later is None:
                    later = asyncio.create_task(asyncio.to_thread(process, quick))
            await later
            return seen
        finally:
            await api.close()

    seen = asyncio.run(main())
    assert seen[0] == "received" and seen[-1] == "analysed" and len(seen) == len(set(seen)), seen
    assert _submission_traces(quick, "u-2") == 1


def test_follow_document_ends_at_its_timeout_when_nothing_happens(api, quick):
    import time

    sub = api.submit_document("u-3", canonical(), "c.json")
    t0 = time.monotonic()
    assert [s.state for s in api.follow_document("u-3", sub.id, timeout=0.3)] == ["received"]
    assert 0.3 <= time.monotonic() - t0 < 5
    with pytest.raises(UnknownSubmission):
        next(api.follow_document("u-other", sub.id, timeout=1))  # another user's submission is unknown
