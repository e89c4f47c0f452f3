"""Storage on SQLite and PostgreSQL: one row per content, commit before removal, duplicates, users, kept copies."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time

import pytest

from models import Document, IngestDuplicate, User
from tests.ingest_fixtures import one_per_format, variant
from worker.ingest import events, ingest_batch, ingest_paths


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
    paths = [_land(s, f"u-{i % 2}/doc{suffix}", variant(src, i)) for i, (suffix, src) in
             enumerate(one_per_format().items())]
    seen = []
    events.add_listener(seen.append)
    try:
        report = ingest_batch(paths, s)
    finally:
        events.remove_listener(seen.append)
    assert len(report.stored) == 5 and report.quarantined == 0 and not report.retry
    assert seen == [report.stored]  # the analysis trigger gets the new ids after the commit
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
    first = ingest_batch([_land(s, "a.hocr", data)], s)
    again = ingest_batch([_land(s, "u-9/renamed.html", data), _land(s, "other.hocr", data)], s)
    assert len(first.stored) == 1 and again.stored == [] and again.duplicates == 2
    assert Document.select().count() == 1
    assert IngestDuplicate.select().where(IngestDuplicate.document == first.stored[0]).count() == 2
    assert not list(s.inbox.rglob("*.h*"))


def test_same_content_twice_in_one_batch(ingest_settings):
    s = ingest_settings
    data = variant(one_per_format()[".txt"], 3)
    report = ingest_batch([_land(s, "a.txt", data), _land(s, "b.txt", data)], s)
    assert len(report.stored) == 1 and report.duplicates == 1 and Document.select().count() == 1


def test_user_id_in_canonical_json_wins_over_the_folder(ingest_settings):
    s = ingest_settings
    doc = json.loads(one_per_format()[".json"].read_bytes())
    doc.update(schema="mediflux.ocr/1", user_id="from-json")
    ingest_batch([_land(s, "from-folder/x.json", json.dumps(doc).encode())], s)
    assert Document.get().user.user_id == "from-json"


def test_crash_after_commit_before_removal_does_not_duplicate(ingest_settings):
    """The row is committed but the file is still there (process killed): the next pass only removes it."""
    s = ingest_settings
    path = _land(s, "x.tsv", variant(one_per_format()[".tsv"], 1))
    keep = path + ".keep"
    os.link(path, keep)  # the same inode survives the removal: put it back as if never removed
    ingest_batch([path], s)
    os.rename(keep, path)
    report = ingest_batch([path], s)
    assert report.stored == [] and report.duplicates == 0 and report.already_stored == 1
    assert Document.select().count() == 1 and IngestDuplicate.select().count() == 0
    assert not os.path.exists(path)


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


def test_inbox_rescan_job_ingests_settled_files_and_leaves_fresh_ones(ingest_settings):
    from models import JobRun
    from worker.periodic import run_job, sync_jobs
    from worker.schedule import PERIODIC_JOBS

    s = ingest_settings
    old = [_land(s, f"u-3/old{i}.txt", variant(one_per_format()[".txt"], i)) for i in range(3)]
    for p in old:
        os.utime(p, (time.time() - 120, time.time() - 120))
    fresh = _land(s, "fresh.txt", variant(one_per_format()[".txt"], 50))  # the watcher's job, not the rescan's
    sync_jobs(PERIODIC_JOBS)
    outcome = run_job(PERIODIC_JOBS["inbox_rescan"], resources={"settings": s})
    assert outcome.ok and outcome.summary["found"] == 3 and outcome.summary["stored"] == 3
    assert os.path.exists(fresh) and not any(os.path.exists(p) for p in old)
    assert JobRun.get(JobRun.job == "inbox_rescan").summary["stored"] == 3


def test_a_file_the_database_refuses_is_quarantined_alone(ingest_settings, monkeypatch):
    """The database refusing one document's data (e.g. PostgreSQL and a NUL character) must not hold back
    the rest of its batch: the batch is split until the culprit is alone, which goes to quarantine."""
    import worker.ingest.store as store

    s = ingest_settings
    paths = [_land(s, f"doc{i}.txt", variant(one_per_format()[".txt"], 500 + i)) for i in range(9)]
    real_meta = store._meta

    def refusing_meta(item, settings):
        if item.landed.rel == "doc6.txt":
            raise ValueError("A string literal cannot contain NUL (0x00) characters.")  # psycopg2's words
        return real_meta(item, settings)

    monkeypatch.setattr(store, "_meta", refusing_meta)
    report = ingest_batch(paths, s)
    assert len(report.stored) == 8 and report.quarantined == 1 and not report.retry
    assert report.reasons == {"unstorable": 1}
    sidecar = json.loads((s.home / "quarantine" / "doc6.txt.error.json").read_text())
    assert sidecar["reason"] == "unstorable" and "ValueError" in sidecar["message"]
    assert Document.select().count() == 8 and not any(os.path.exists(p) for p in paths)
