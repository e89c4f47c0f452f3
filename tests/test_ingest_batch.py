"""Storage on SQLite and PostgreSQL: one row per content, commit before removal, duplicates, users, kept copies."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time

import pytest
import time_machine

from models import Document, IngestDuplicate, User
from tests.recording import RecordingTriggers
from tests.ingest_fixtures import one_per_format, variant
from worker.ingest import batch, ingest_batch, ingest_paths


@pytest.fixture
def ingest_settings(settings, database):
    return dataclasses.replace(settings, ingest_grace_seconds=0.0)


def _land(settings, rel, data):
    path = settings.inbox / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def test_five_formats_stored_once_with_pages_meta_and_users(ingest_settings):
    s = ingest_settings
    paths = [
        _land(s, f"u-{i % 2}/doc{suffix}", variant(src, i)) for i, (suffix, src) in enumerate(one_per_format().items())
    ]
    triggers = RecordingTriggers()
    report = ingest_batch(paths, s, triggers)
    assert len(report.stored) == 5 and report.quarantined == 0 and not report.retry
    assert triggers.analysed == [report.stored]  # the analysis trigger gets the new ids after the commit
    assert not any(os.path.exists(p) for p in paths)  # removed after the commit (default)
    docs = list(Document.select().order_by(Document.id))
    assert sorted(d.format for d in docs) == ["alto", "hocr", "json", "text", "tsv"]
    for d in docs:
        assert len(d.sha256) == 64 and d.pages and d.pages[0]["words"] > 0 and d.text
        assert d.meta["size_bytes"] > 0 and d.meta["pages"] == len(d.pages) and "parse" in d.meta["timings_ms"]
        assert d.user.user_id in ("u-0", "u-1")
    assert {u.user_id for u in User.select()} == {"u-0", "u-1"}


def test_same_content_again_is_a_recorded_duplicate_not_a_row(ingest_settings):
    s = ingest_settings
    data = variant(one_per_format()[".hocr"], 7)
    first = ingest_batch([_land(s, "u-9/a.hocr", data)], s)
    again = ingest_batch([_land(s, "u-9/renamed.html", data), _land(s, "u-9/other.hocr", data)], s)
    assert len(first.stored) == 1 and again.stored == [] and again.duplicates == 2
    assert Document.select().count() == 1
    assert IngestDuplicate.select().where(IngestDuplicate.document == first.stored[0]).count() == 2
    assert not list(s.inbox.rglob("*.h*"))


def test_same_content_twice_in_one_batch(ingest_settings):
    s = ingest_settings
    data = variant(one_per_format()[".txt"], 3)
    report = ingest_batch([_land(s, "a.txt", data), _land(s, "b.txt", data)], s)
    assert len(report.stored) == 1 and report.duplicates == 1 and Document.select().count() == 1


def test_crash_after_commit_before_removal_does_not_duplicate(ingest_settings, monkeypatch):
    """The row is committed but the file is still there (process killed): the next pass only removes it.

    The kill is the removal step not running (a second hard link would keep the inode, but a file with other
    links is refused: hard_link)."""
    s = ingest_settings
    path = _land(s, "x.tsv", variant(one_per_format()[".tsv"], 1))
    with monkeypatch.context() as m:
        m.setattr(batch, "leave_inbox", lambda *_a: None)
        assert len(ingest_batch([path], s).stored) == 1
    assert os.path.exists(path)
    report = ingest_batch([path], s)
    assert report.stored == [] and report.duplicates == 0 and report.already_stored == 1
    assert Document.select().count() == 1 and IngestDuplicate.select().count() == 0
    assert not os.path.exists(path)


def test_crash_before_the_exit_keeps_the_file_where_its_row_says(ingest_settings, monkeypatch):
    """MEDIFLUX_KEEP_PROCESSED=1 and a crash between the durable commit and the exit: the next pass keeps the file
    at the row's processed_path (as the first pass meant to), it does not delete it."""
    s = dataclasses.replace(ingest_settings, keep_processed=True)
    path = _land(s, "u-1/note.txt", variant(one_per_format()[".txt"], 4))
    with monkeypatch.context() as m:
        m.setattr(batch, "leave_inbox", lambda *_a: None)
        assert len(ingest_batch([path], s).stored) == 1
    assert os.path.exists(path)
    report = ingest_batch([path], s)
    assert report.already_stored == 1 and report.duplicates == 0 and not report.retry
    doc = Document.get()
    kept = s.home / doc.meta["processed_path"]
    assert kept.is_file() and (kept.stat().st_mode & 0o777) == 0o600 and not os.path.exists(path)


def test_keep_processed_moves_files_under_home(ingest_settings):
    s = dataclasses.replace(ingest_settings, keep_processed=True)
    path = _land(s, "u-1/a.alto.xml", variant(one_per_format()[".alto.xml"], 1))
    path2 = _land(s, "b.txt", variant(one_per_format()[".txt"], 1))
    ingest_batch([path, path2], s)
    for doc in Document.select():
        kept = s.home / doc.meta["processed_path"]
        folder = "u-1" if doc.format == "alto" else "_nouser"
        ext = "alto.xml" if doc.format == "alto" else "txt"
        assert doc.meta["processed_path"] == f"processed/{folder}/{doc.sha256}.{ext}"
        assert kept.is_file() and (kept.stat().st_mode & 0o777) == 0o600
    assert not os.path.exists(path) and not os.path.exists(path2)


def test_read_only_inbox_stores_once_and_removes_later(ingest_settings):
    """chattr +i makes the folder read-only even for root: the row is committed, the file cannot leave."""
    s = ingest_settings
    path = _land(s, "ro/x.txt", variant(one_per_format()[".txt"], 11))
    folder = os.path.dirname(path)
    if subprocess.run(["chattr", "+i", folder], capture_output=True).returncode != 0:
        pytest.skip("chattr +i not supported here")
    try:
        first = ingest_batch([path], s)
        second = ingest_batch([path], s)
        assert len(first.stored) == 1 and first.retry == [path] and os.path.exists(path)
        assert second.stored == [] and second.duplicates == 0 and second.retry == [path]
        assert Document.select().count() == 1 and IngestDuplicate.select().count() == 0
    finally:
        subprocess.run(["chattr", "-i", folder], check=True)
    third = ingest_batch([path], s)
    assert third.already_stored == 1 and not os.path.exists(path) and Document.select().count() == 1


def test_batches_of_many_files(ingest_settings):
    s = ingest_settings
    sources = list(one_per_format().values())
    paths = [_land(s, f"b/{i}{sources[i % 5].name}", variant(sources[i % 5], i)) for i in range(60)]
    report = ingest_paths(paths, s, batch_size=25)
    assert len(report.stored) == 60 and Document.select().count() == 60


def _rescan(s):
    """One run of the ``inbox_rescan`` job's function (``run_job`` would refuse a second run within a minute)."""
    from models.clock import utcnow
    from worker.ingest import rescan
    from worker.periodic import JobContext

    return rescan.run(JobContext("inbox_rescan", utcnow(), time.monotonic() + 300, settings=s))


def test_inbox_rescan_job_ingests_settled_files_and_leaves_fresh_ones(ingest_settings):
    from models import JobRun
    from worker.periodic import run_job, sync_jobs
    from worker.schedule import PERIODIC_JOBS

    s = ingest_settings
    landed = time.time()
    old = [_land(s, f"u-3/old{i}.txt", variant(one_per_format()[".txt"], i)) for i in range(3)]
    fresh = _land(s, "fresh.txt", variant(one_per_format()[".txt"], 50))  # the watcher's job, not the rescan's
    with time_machine.travel(landed + 120, tick=False):
        os.utime(fresh, (landed + 110, landed + 110))  # written 10 s ago
        sync_jobs(PERIODIC_JOBS)
        outcome = run_job(PERIODIC_JOBS["inbox_rescan"], s)
    assert outcome.ok
    summary = outcome.summary
    assert summary["found"] == 3 and summary["stored"] == 3 and summary["left_to_watcher"] == 0
    assert os.path.exists(fresh) and not any(os.path.exists(p) for p in old)
    assert JobRun.get(JobRun.job == "inbox_rescan").summary["stored"] == 3


def test_inbox_rescan_counts_a_file_from_when_it_was_moved_in_not_its_old_mtime(ingest_settings):
    """``cp -p`` or a rename keeps last week's mtime; the file has only just landed (its ctime says so)."""
    s = ingest_settings
    path = _land(s, "moved-in.txt", variant(one_per_format()[".txt"], 1))
    os.utime(path, (time.time() - 7 * 86400, time.time() - 7 * 86400))
    assert _rescan(s)["found"] == 0 and os.path.exists(path)
    with time_machine.travel(time.time() + 31, tick=False):
        assert _rescan(s)["stored"] == 1
    assert not os.path.exists(path)


def test_inbox_rescan_leaves_the_inbox_to_a_live_watcher_until_its_own_redispatch_is_overdue(ingest_settings):
    """With a watcher holding the inbox's lease, the job takes only files older than three rescan intervals
    (the watcher's re-dispatch) plus 30 s: a backlog is not ingested from the job's thread beside the
    watcher's tasks. Without a live lease it takes files quiet for 30 s again."""
    import datetime as _dt

    from worker import leases

    s = ingest_settings
    landed = time.time()
    paths = [_land(s, f"u-4/doc{i}.txt", variant(one_per_format()[".txt"], i)) for i in range(3)]
    threshold = 3 * s.watch_rescan_seconds + 30
    with time_machine.travel(landed + 60, tick=False):
        assert leases.acquire(leases.watcher_lease(s.inbox), "watcher-1", _dt.timedelta(hours=1))
        summary = _rescan(s)
        assert (summary["found"], summary["stored"], summary["left_to_watcher"]) == (3, 0, 3)
    with time_machine.travel(landed + threshold + 1, tick=False):
        assert leases.holder_of(leases.watcher_lease(s.inbox)) == "watcher-1"
        summary = _rescan(s)
        assert (summary["stored"], summary["left_to_watcher"]) == (3, 0)
    assert not any(os.path.exists(p) for p in paths)
    more = _land(s, "u-4/later.txt", variant(one_per_format()[".txt"], 9))
    leases.release(leases.watcher_lease(s.inbox), "watcher-1")
    with time_machine.travel(time.time() + 31, tick=False):
        assert _rescan(s)["stored"] == 1  # no watcher: 30 s of quiet is enough
    assert not os.path.exists(more)


def test_a_file_the_database_refuses_is_quarantined_alone(ingest_settings, monkeypatch):
    """The database refusing one document's data (e.g. PostgreSQL and a NUL character) must not hold back
    the rest of its batch: the batch is split until the culprit is alone, which goes to quarantine."""
    import worker.ingest.batch as batch_module

    s = ingest_settings
    paths = [_land(s, f"doc{i}.txt", variant(one_per_format()[".txt"], 500 + i)) for i in range(9)]
    real_meta = batch_module._meta

    def refusing_meta(item, settings):
        if item.landed.rel == "doc6.txt":
            raise ValueError("A string literal cannot contain NUL (0x00) characters.")  # psycopg2's words
        return real_meta(item, settings)

    monkeypatch.setattr(batch_module, "_meta", refusing_meta)
    report = ingest_batch(paths, s)
    assert len(report.stored) == 8 and report.quarantined == 1 and not report.retry
    assert report.reasons == {"unstorable": 1}
    sidecar = json.loads((s.home / "quarantine" / "doc6.txt.error.json").read_text())
    assert sidecar["reason"] == "unstorable" and "ValueError" in sidecar["message"]
    assert Document.select().count() == 8 and not any(os.path.exists(p) for p in paths)
