"""Who owns a document: the user folder is the boundary, refused files keep their user, idempotency per owner."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from models import Document, IngestDuplicate, User
from tests.conftest import ROOT, run_cli
from tests.ingest_fixtures import one_per_format, variant
from worker.ingest import ingest_batch
from worker.quarantine import entries


@pytest.fixture
def s(settings, database):
    return dataclasses.replace(settings, ingest_grace_seconds=0.0, max_file_mb=1)


def _land(settings, rel, data: bytes) -> str:
    path = settings.inbox / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def _canonical(user_id: str | None, n: int = 1) -> bytes:
    doc = json.loads(variant(one_per_format()[".json"], n))
    doc["schema"] = "mediflux.ocr/1"
    if user_id is not None:
        doc["user_id"] = user_id
    return json.dumps(doc).encode()


def _owners() -> list[str | None]:
    return sorted((d.user.user_id if d.user_id else "-") for d in Document.select())


# --- the user folder is the boundary ---------------------------------------------------------------------


def test_json_naming_another_user_than_its_folder_is_quarantined(s):
    path = _land(s, "alice/doc.json", _canonical("bob"))
    report = ingest_batch([path], s)
    assert report.stored == [] and report.quarantined == 1 and report.reasons == {"user_mismatch": 1}
    assert Document.select().count() == 0
    assert not User.select().where(User.user_id == "bob").exists()  # nothing created for the named user
    (entry,) = entries(s.home)
    assert entry.reason == "user_mismatch" and entry.user_id == "alice"  # the folder's user: erasure finds it
    assert "bob" not in entry.sidecar["message"] and not os.path.exists(path)


def test_json_naming_its_own_folder_user_is_stored(s):
    ingest_batch([_land(s, "alice/doc.json", _canonical("alice"))], s)
    assert _owners() == ["alice"]


def test_user_id_of_a_file_at_the_inbox_root_applies(s):
    report = ingest_batch([_land(s, "doc.json", _canonical("carol", 2)), _land(s, "anon.json", _canonical(None, 3))], s)
    assert len(report.stored) == 2 and _owners() == ["-", "carol"]


# --- files refused before they are read keep their folder's user ----------------------------------------


def _refused(s, make, user_folder="alice"):
    folder = s.inbox / user_folder
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "refused.txt"
    make(path)
    report = ingest_batch([str(path)], s)
    assert report.quarantined == 1 and report.stored == [], report.summary()
    (entry,) = entries(s.home)
    return entry


def test_too_large_symlink_and_fifo_sidecars_name_the_folder_user(s, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("Ordonnance")
    makers = {
        "too_large": lambda p: p.write_bytes(b"x" * (1024 * 1024 + 1)),
        "not_regular_file": lambda p: p.symlink_to(outside),
    }
    for reason, make in makers.items():
        entry = _refused(s, make)
        assert (entry.reason, entry.user_id, entry.sidecar["user_id"]) == (reason, "alice", "alice")
        entry.path.unlink()
        entry.sidecar_path.unlink()
    entry = _refused(s, lambda p: os.mkfifo(p))
    assert entry.reason == "not_regular_file" and entry.user_id == "alice"


def test_refused_file_at_the_root_names_no_user(s):
    path = s.inbox / "big.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * (1024 * 1024 + 1))
    ingest_batch([str(path)], s)
    (entry,) = entries(s.home)
    assert entry.reason == "too_large" and entry.sidecar["user_id"] is None


def test_unreadable_file_sidecar_names_the_folder_user(s):
    """Root reads anything, so the ingest runs in a child without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH."""
    path = _land(s, "alice/secret.txt", variant(one_per_format()[".txt"], 1))
    os.chmod(path, 0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIFLUX_")}
    env.update(MEDIFLUX_HOME=str(s.home), MEDIFLUX_DATABASE_URL=s.database_url, MEDIFLUX_INGEST_GRACE_SECONDS="0")
    code = (
        "from worker.ingest import ingest_batch; from worker.runtime import bootstrap; "
        f"print(ingest_batch([{path!r}], bootstrap().settings).summary())"
    )
    cmd = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]
        cmd += [sys.executable, "-c", code]
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "'quarantined': 1" in out.stdout, out.stderr
    (entry,) = entries(s.home)
    assert entry.reason == "unreadable" and entry.user_id == "alice"


def test_erase_and_export_find_a_too_large_file_of_the_user(env, home):
    """End to end through the CLI: a real too-large file in inbox/<user>/, MEDIFLUX_MAX_FILE_MB=1."""
    env = {**env, "MEDIFLUX_MAX_FILE_MB": "1", "MEDIFLUX_INGEST_GRACE_SECONDS": "0"}
    folder = home / "inbox" / "u-big"
    folder.mkdir(parents=True)
    (folder / "scan.txt").write_bytes(b"Ordonnance " * 100_000)  # 1.1 MB
    out = run_cli(env, "ingest", "--now", "--json", str(folder))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["reasons"] == {"too_large": 1}
    assert not (folder / "scan.txt").exists()
    exported = run_cli(env, "export-user", "u-big")
    assert exported.returncode == 0, exported.stderr
    (quarantined,) = json.loads(exported.stdout)["files"]["quarantine"]
    assert quarantined["sidecar"]["reason"] == "too_large" and quarantined["sidecar"]["user_id"] == "u-big"
    erased = run_cli(env, "erase-user", "u-big", "--json")
    assert erased.returncode == 0, erased.stderr
    assert [p.name for p in (home / "quarantine").iterdir()] == []


# --- idempotency per owner ------------------------------------------------------------------------------


def test_same_bytes_from_two_users_are_two_documents_each_owned(s):
    data = variant(one_per_format()[".txt"], 21)
    first = ingest_batch([_land(s, "alice/leaflet.txt", data)], s)
    second = ingest_batch([_land(s, "bob/leaflet.txt", data), _land(s, "carol/form.txt", data)], s)
    assert len(first.stored) == 1 and len(second.stored) == 2 and second.duplicates == 0
    assert _owners() == ["alice", "bob", "carol"]
    assert len({d.sha256 for d in Document.select()}) == 1 and IngestDuplicate.select().count() == 0
    by_owner = {d.user.user_id: d.id for d in Document.select()}
    assert by_owner["alice"] == first.stored[0] and sorted(second.stored) == sorted(
        [by_owner["bob"], by_owner["carol"]]
    )


def test_same_bytes_twice_for_one_user_stay_one_document_with_a_duplicate(s):
    data = variant(one_per_format()[".tsv"], 22)
    first = ingest_batch([_land(s, "alice/a.tsv", data), _land(s, "bob/a.tsv", data)], s)
    again = ingest_batch([_land(s, "alice/b.tsv", data), _land(s, "alice/c.tsv", data)], s)
    assert len(first.stored) == 2 and again.stored == [] and again.duplicates == 2
    alice = Document.get(Document.user == User.get(User.user_id == "alice").id)
    assert [d.document_id for d in IngestDuplicate.select()] == [alice.id, alice.id]  # never bob's document
    assert _owners() == ["alice", "bob"]


def test_documents_without_a_user_stay_unique_per_content(s):
    data = variant(one_per_format()[".hocr"], 23)
    first = ingest_batch([_land(s, "a.hocr", data), _land(s, "b.hocr", data)], s)
    again = ingest_batch([_land(s, "c.hocr", data), _land(s, "alice/c.hocr", data)], s)
    assert len(first.stored) == 1 and first.duplicates == 1
    assert len(again.stored) == 1 and again.duplicates == 1
    assert _owners() == ["-", "alice"]
