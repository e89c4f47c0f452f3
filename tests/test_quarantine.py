"""The quarantine layout and its one listing rule (worker/quarantine.py), and that every reader sees the same set."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
import time_machine

from tests.conftest import run_cli
from tests.retention_data import UTC
from worker import quarantine
from worker.dashboard.quarantine import list_entries, ref_of
from worker.retention import erase, export, prune


def _put(directory: Path, name: str, content: bytes | str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    (directory / name).write_bytes(data)


def _sidecar(**fields: object) -> str:
    return json.dumps(
        {"reason": "invalid_json", "message": "not JSON", "quarantined_at": "2026-01-01T00:00:00"} | fields
    )


def _folder_with_every_case(home: Path) -> Path:
    """One of each: file + sidecar, file alone, orphan sidecar, sidecar of a sidecar, half-written sidecar, folder."""
    q = quarantine.folder(home)
    _put(q, "a.pdf", b"%PDF")
    _put(q, "a.pdf.error.json", _sidecar(user_id="u-1"))
    _put(q, "b.txt", b"no sidecar")
    _put(q, "c.json.error.json", _sidecar(user_id="u-1"))  # its file is gone (crash, or removed by hand)
    _put(q, "z.error.json", _sidecar(user_id="u-2"))  # sidecar of "z", which is not there
    _put(q, "z.error.json.error.json", _sidecar(reason="nested"))  # a sidecar of that sidecar
    _put(q, ".tmp-d.error.json", '{"reason": "inval')  # a crash while the sidecar was written
    (q / "sub").mkdir()
    _put(q / "sub", "inner.pdf", b"x")
    return q


def test_the_listing_rule(home):
    q = _folder_with_every_case(home)
    by_name = {e.name: e for e in quarantine.entries(home)}
    assert set(by_name) == {"a.pdf", "b.txt", "c.json", "z", "z.error.json", ".tmp-d"}  # no folder, no sidecar name
    a, b, c = by_name["a.pdf"], by_name["b.txt"], by_name["c.json"]
    assert not a.orphan and a.reason == "invalid_json" and a.user_id == "u-1" and a.size == 4
    assert a.path == q / "a.pdf" and a.sidecar_path == q / "a.pdf.error.json"
    assert not b.orphan and b.sidecar is None and b.reason == "unknown" and b.user_id is None and b.size == 10
    assert c.orphan and c.size is None and c.user_id == "u-1" and c.sidecar_size
    # A name ending in .error.json is never a quarantined file: "z.error.json" is the sidecar of the absent "z",
    # and "z.error.json.error.json" is an orphan of its own whose removal leaves "z.error.json" alone.
    assert by_name["z"].orphan and by_name["z"].user_id == "u-2"
    nested = by_name["z.error.json"]
    assert nested.orphan and nested.reason == "nested"
    assert by_name[".tmp-d"].orphan and by_name[".tmp-d"].sidecar is None
    assert quarantine.remove(nested) == [len(_sidecar(reason="nested"))]
    assert (q / "z.error.json").exists() and not (q / "z.error.json.error.json").exists()
    assert quarantine.remove(nested) == []  # already gone: nothing, no error


def test_find_and_retry_follow_the_same_rule(home, tmp_path):
    q = _folder_with_every_case(home)
    inbox = tmp_path / "inbox"
    for name in ("c.json", "z", "z.error.json", ".tmp-d"):  # orphans: nothing to retry
        with pytest.raises(FileNotFoundError):
            quarantine.retry(home, inbox, name)
    for bad in ("", ".", "..", "../a.pdf", "sub", "sub/inner.pdf", "a.pdf.error.json", "missing"):
        with pytest.raises(FileNotFoundError):
            quarantine.find(home, bad)
    assert quarantine.retry(home, inbox, "a.pdf") == inbox / "u-1" / "a.pdf"  # its user's folder
    assert not (q / "a.pdf.error.json").exists()
    _put(inbox, "b.txt", b"already there")
    assert quarantine.retry(home, inbox, "b.txt") == inbox / "retry2-b.txt"  # never overwrites
    assert (inbox / "b.txt").read_bytes() == b"already there"


def test_a_sidecar_naming_an_invalid_user_attributes_nobody(home, tmp_path):
    q = quarantine.folder(home)
    _put(q, "x.txt", b"x")
    _put(q, "x.txt.error.json", _sidecar(user_id="../../etc"))
    (entry,) = quarantine.entries(home)
    assert entry.user_id is None
    assert quarantine.retry(home, tmp_path / "inbox", "x.txt") == tmp_path / "inbox" / "x.txt"


def test_move_in_writes_a_sidecar_that_lists_back(home, tmp_path):
    inbox = tmp_path / "inbox" / "u-3"
    _put(inbox, "scan.error.json", b"{broken")  # a landed name that looks like a sidecar
    moved = quarantine.move_in(str(inbox / "scan.error.json"), home, "invalid_json", "not JSON", user_id="u-3")
    assert moved is not None and moved.name == "scan.error.json.q" and not moved.orphan
    (listed,) = quarantine.entries(home)
    assert listed == moved and listed.sidecar is not None and listed.sidecar["original_name"] == "scan.error.json"
    assert sorted(os.listdir(quarantine.folder(home))) == ["scan.error.json.q", "scan.error.json.q.error.json"]
    assert quarantine.move_in(str(inbox / "gone"), home, "invalid_json", "x") is None


def test_old_sidecars_still_list(home):
    """A sidecar written before this module (same fields, no trailing newline, indent 1) lists as before."""
    q = quarantine.folder(home)
    _put(q, "old.json", b"{")
    old = {
        "reason": "invalid_json",
        "message": "Expecting property name",
        "format_guess": "json",
        "size": 1,
        "quarantined_at": "2025-03-01T10:00:00.000001+00:00",
        "user_id": "u-7",
        "original_name": "old.json",
    }
    (q / "old.json.error.json").write_text(json.dumps(old, ensure_ascii=False, indent=1), encoding="utf-8")
    (entry,) = quarantine.entries(home)
    assert entry.sidecar == old and entry.user_id == "u-7" and entry.reason == "invalid_json"


def test_purge_removes_every_entry_and_counts_files(home):
    q = _folder_with_every_case(home)
    assert quarantine.purge(home) == 2  # a.pdf and b.txt; the four orphans go too, uncounted
    assert sorted(os.listdir(q)) == ["sub"] and quarantine.entries(home) == []


def test_prune_erase_export_cli_and_dashboard_see_the_same_entries(env, database, settings):
    home = settings.home
    _folder_with_every_case(home)
    listed = {e.name for e in quarantine.entries(home)}
    mine = {e.name for e in quarantine.entries(home) if e.user_id == "u-1"}
    assert mine == {"a.pdf", "c.json"}
    # the operator's views
    cli = run_cli(env, "quarantine", "list", "--json", "--show-names")
    assert cli.returncode == 0, cli.stderr
    rows = json.loads(cli.stdout)
    assert {r["name"] for r in rows} == listed
    assert {r["name"] for r in rows if r["orphan"]} == {"c.json", "z", "z.error.json", ".tmp-d"}
    assert "orphan sidecar" in run_cli(env, "quarantine", "list").stdout
    assert {r["ref"] for r in json.loads(run_cli(env, "quarantine", "list", "--json").stdout)} == {
        ref_of(n) for n in listed
    }
    assert {e.ref for e in list_entries(settings)} == {ref_of(n) for n in listed}
    assert {e.ref for e in list_entries(settings) if e.orphan} == {
        ref_of(n) for n in ("c.json", "z", "z.error.json", ".tmp-d")
    }
    # export: the user's entries, an orphan as missing with its sidecar
    exported = {f["path"]: f for f in export.export_user(settings, "u-1")["files"]["quarantine"]}
    assert set(exported) == {f"quarantine/{n}" for n in mine}
    assert exported["quarantine/c.json"]["missing"] and exported["quarantine/c.json"]["sidecar"]["user_id"] == "u-1"
    assert exported["quarantine/a.pdf"]["sha256"] and exported["quarantine/a.pdf"]["size"] == 4
    # prune (dry run): every entry, each with every file it has on disk
    on_disk = sum((e.size is not None) + (e.sidecar_size is not None) for e in quarantine.entries(home))
    later = dt.datetime.now(UTC) + dt.timedelta(days=31)
    with time_machine.travel(later, tick=False):
        (dry,) = prune.prune(settings, dry_run=True, categories=("quarantine",))
    assert dry.files == on_disk == 7
    # erase: the user's entries and nothing else
    erase.erase_user(settings, "u-1")
    assert {e.name for e in quarantine.entries(home)} == listed - mine
    with time_machine.travel(later, tick=False):
        (pruned,) = prune.prune(settings, categories=("quarantine",))
    assert pruned.files == on_disk - 3 == 4 and quarantine.entries(home) == []


PATIENT_FILE = "Compte rendu DURAND Bob VIH 1 85 03 75 123 456 41.txt"
PATIENT_ID = "bob.durand@example.com"


def test_the_cli_and_the_dashboard_show_quarantine_by_one_policy(env, database, settings):
    q = quarantine.folder(settings.home)
    _put(q, PATIENT_FILE, "Compte rendu : VIH")
    sidecar = _sidecar(
        user_id=PATIENT_ID, original_name=PATIENT_FILE, message=f"{PATIENT_FILE} is not JSON", format_guess="text"
    )
    _put(q, PATIENT_FILE + ".error.json", sidecar)
    secrets = ("DURAND", "bob.durand", "VIH", "123 456", "Compte rendu")
    table = run_cli(env, "quarantine", "list")
    as_json = run_cli(env, "quarantine", "list", "--json")
    assert table.returncode == 0 and as_json.returncode == 0, table.stderr + as_json.stderr
    for out in (table.stdout, as_json.stdout):
        assert not [s for s in secrets if s in out], out
    (row,) = json.loads(as_json.stdout)
    (shown,) = list_entries(settings)
    assert row["ref"] == shown.ref and row["reason"] == shown.reason == "invalid_json: <file> is not JSON"
    assert (row["format"], row["size"], row["quarantined_at"]) == (shown.format, shown.size, shown.time)
    assert "--show-names" in run_cli(env, "quarantine", "list", "--help").stdout
    # An operator who asks sees the names and the user id.
    named = run_cli(env, "quarantine", "list", "--show-names")
    assert PATIENT_FILE in named.stdout and PATIENT_ID in named.stdout
    (full,) = json.loads(run_cli(env, "quarantine", "list", "--json", "--show-names").stdout)
    assert full["name"] == full["original_name"] == PATIENT_FILE and full["user_id"] == PATIENT_ID
    # Retry by ref: the answer names no file, and the file is back in its user's folder.
    retried = run_cli(env, "quarantine", "retry", row["ref"])
    assert retried.returncode == 0, retried.stderr
    assert not [s for s in secrets if s in retried.stdout + retried.stderr]
    assert (settings.inbox / PATIENT_ID / PATIENT_FILE).exists()
    assert run_cli(env, "quarantine", "retry", row["ref"]).returncode == 1
