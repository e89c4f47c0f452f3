"""Durability before removal, checked on the system calls, not on the code's word.

A real ``mediflux ingest --now`` (and a real data-API script) runs under ``strace -f -y``; the trace must show,
for every file that leaves the inbox, that the database's WAL (and the database) were fsynced after their last
write and before the unlink/rename; that a copy into ``processed/`` or quarantine and its folder were fsynced before
the source went; and that a data-API write was fsynced before the call returned. PostgreSQL with
``synchronous_commit=off`` is refused for ingestion, files left in place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI, ROOT

SYSCALLS = "write,pwrite64,fsync,fdatasync,unlink,unlinkat,rename,renameat,renameat2"
WRITES = {"write", "pwrite64"}
SYNCS = {"fsync", "fdatasync"}
REMOVALS = {"unlink", "unlinkat", "rename", "renameat", "renameat2"}
_START = re.compile(r"^(?P<pid>\d+)\s+(?P<name>\w+)\((?P<args>.*?)(?:\)\s+=\s+(?P<ret>-?\d+).*| <unfinished \.\.\.>)$")
_RESUMED = re.compile(r"^(?P<pid>\d+)\s+<\.\.\. (?P<name>\w+) resumed>(?P<args>.*?)\)\s+=\s+(?P<ret>-?\d+)")
_TOKEN = re.compile(r'\d+<(?P<fd>[^>]*)>|(?P<cwd>AT_FDCWD)|"(?P<str>(?:[^"\\]|\\.)*)"')


@dataclass
class Call:
    name: str
    paths: list[str]  # fd paths and path arguments, resolved (dirfd + name)
    start: int  # line index of the call's start
    end: int  # line index of its completion
    ok: bool


def _paths(name: str, args: str) -> list[str]:
    """Paths a call names: a write's or sync's fd (``N</path>`` with -y); a removal's paths (dirfd joined)."""
    if name not in REMOVALS:
        fd = _TOKEN.match(args)
        return [fd.group("fd")] if fd and fd.group("fd") is not None else []
    out: list[str] = []
    dirfd: str | None = None
    for m in _TOKEN.finditer(args):
        if m.group("fd") is not None:
            dirfd = m.group("fd")
            out.append(dirfd)
        elif m.group("cwd"):
            dirfd = None
        else:
            name = m.group("str")
            if dirfd is not None and not name.startswith("/"):
                out.pop()  # the dirfd was a base, not a path of its own
                name = dirfd + "/" + name
            dirfd = None
            out.append(os.path.normpath(name))
    return out


def parse(trace: str) -> list[Call]:
    """strace -f -y output (one line per call, or an unfinished/resumed pair) as calls in order."""
    calls: list[Call] = []
    pending: dict[str, Call] = {}
    for i, line in enumerate(trace.splitlines()):
        if m := _RESUMED.match(line):
            call = pending.pop(m.group("pid"), None)
            if call is not None:
                call.end, call.ok = i, int(m.group("ret")) >= 0
            continue
        if (m := _START.match(line)) is None:
            continue
        ret = m.group("ret")
        call = Call(m.group("name"), _paths(m.group("name"), m.group("args")), i, i, ret is not None and int(ret) >= 0)
        if ret is None:
            pending[m.group("pid")] = call
        calls.append(call)
    return calls


def _strace() -> str:
    path = shutil.which("strace")
    if path is None:
        message = "strace is not installed (apt-get install strace): the durability checks read its trace"
        if IN_CI:
            pytest.fail(message + " (CI=true: .ci/run must install it)")
        pytest.skip(message)
    probe = subprocess.run([path, "-f", "-qq", "-o", os.devnull, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        message = f"strace cannot trace here: {probe.stderr.strip()[:200]}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def traced(env: dict[str, str], argv: list[str], out: Path) -> tuple[subprocess.CompletedProcess, list[Call]]:
    """Run ``argv`` under strace (every thread and child), returning the process and its calls."""
    trace = out / "trace.txt"
    cmd = [_strace(), "-f", "-qq", "-y", "-s", "48", "-o", str(trace), "-e", f"trace={SYSCALLS}", *argv]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    return proc, parse(trace.read_text(errors="replace"))


def ingest_now(env: dict[str, str], inbox: Path, out: Path) -> tuple[subprocess.CompletedProcess, list[Call]]:
    return traced(env, [sys.executable, "-m", "worker.cli", "ingest", "--now", "--json", str(inbox)], out)


def _under(path: str, folder: Path) -> bool:
    return path.startswith(str(folder) + os.sep)


def removals_from(calls: list[Call], inbox: Path) -> list[Call]:
    """Successful unlinks and renames whose source is a file in the inbox."""
    return [c for c in calls if c.name in REMOVALS and c.ok and c.paths and _under(c.paths[0], inbox)]


def synced_between(calls: list[Call], path: str, after: int, before: int) -> bool:
    """An fsync/fdatasync of ``path`` started after line ``after`` and completed before line ``before``."""
    return any(c.name in SYNCS and c.ok and c.paths[:1] == [path] and c.start > after and c.end < before for c in calls)


def assert_db_durable_before(calls: list[Call], db: Path, removal: Call) -> None:
    """The database's last write before ``removal``, to the WAL and to the file, was fsynced before it."""
    wrote = False
    for path in (str(db) + "-wal", str(db)):
        writes = [c for c in calls if c.name in WRITES and c.ok and c.paths[:1] == [path] and c.end < removal.start]
        if not writes:
            continue
        wrote = True
        last = writes[-1]
        assert synced_between(calls, path, last.end, removal.start), (
            f"{os.path.basename(removal.paths[0])} left the inbox ({removal.name}) before {os.path.basename(path)} "
            "was fsynced after its last write"
        )
    assert wrote, "no database write before the file left the inbox"


def _files(inbox: Path, n: int, user: str = "alice") -> list[Path]:
    folder = inbox / user
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"note{i}.txt"
        path.write_text(
            f"Compte rendu {user} {i}: consultation du {i + 1} mars, tension normale, suivi dans six mois.\n"
        )
        paths.append(path)
    return paths


def _env(env: dict[str, str], **extra: str) -> dict[str, str]:
    return env | {"MEDIFLUX_INGEST_GRACE_SECONDS": "0", "PYTHONPATH": str(ROOT)} | extra


@pytest.fixture
def sqlite_env(home: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("MEDIFLUX_")}
    return e | {"MEDIFLUX_HOME": str(home), "MEDIFLUX_DATABASE_URL": f"sqlite:///{home / 'mediflux.db'}"}


@pytest.fixture
def other_fs_inbox(tmp_path: Path):
    """An inbox on another filesystem than home (/dev/shm), so moves out of it are copies; skipped if none."""
    base = Path("/dev/shm")
    if not base.is_dir() or os.stat(base).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem (/dev/shm) to put the inbox on: the copy path cannot be exercised")
    folder = Path(tempfile.mkdtemp(prefix="mediflux-inbox-", dir=base))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_each_inbox_file_is_removed_only_after_the_wal_is_fsynced(sqlite_env, home, tmp_path):
    inbox = home / "inbox"
    files = _files(inbox, 5) + _files(inbox, 3, user="bob")
    # a second batch in the same process: the first batch's sync must not stand in for the second's
    proc, calls = ingest_now(_env(sqlite_env, MEDIFLUX_INGEST_BATCH="4"), inbox, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["stored"] == len(files)
    removed = removals_from(calls, inbox)
    assert sorted(c.paths[0] for c in removed) == sorted(map(str, files))
    for removal in removed:
        assert_db_durable_before(calls, home / "mediflux.db", removal)


def test_kept_files_are_synced_with_their_folder_when_renamed_into_processed(sqlite_env, home, tmp_path):
    inbox = home / "inbox"
    files = _files(inbox, 3)
    proc, calls = ingest_now(_env(sqlite_env, MEDIFLUX_KEEP_PROCESSED="1"), inbox, tmp_path)
    assert proc.returncode == 0, proc.stderr
    processed = home / "processed" / "alice"
    removed = removals_from(calls, inbox)
    assert sorted(c.paths[0] for c in removed) == sorted(map(str, files))
    for removal in removed:
        assert removal.name.startswith("rename") and _under(removal.paths[1], processed)
        assert_db_durable_before(calls, home / "mediflux.db", removal)
        # the file's data before the rename (its writer may never have synced it), the new name after it
        assert synced_between(calls, removal.paths[0], -1, removal.start), "file not fsynced before its rename"
        assert synced_between(calls, str(processed), removal.end, len(calls) * 10), "processed/ not fsynced"


def test_kept_files_copied_across_filesystems_are_synced_before_the_unlink(sqlite_env, home, tmp_path, other_fs_inbox):
    inbox = other_fs_inbox
    files = _files(inbox, 3)
    env = _env(sqlite_env, MEDIFLUX_KEEP_PROCESSED="1", MEDIFLUX_INBOX=str(inbox))
    proc, calls = ingest_now(env, inbox, tmp_path)
    assert proc.returncode == 0, proc.stderr
    processed = home / "processed" / "alice"
    removed = removals_from(calls, inbox)
    assert sorted(c.paths[0] for c in removed) == sorted(map(str, files))
    for removal in removed:
        assert removal.name.startswith("unlink")
        assert_db_durable_before(calls, home / "mediflux.db", removal)
        placed = _last_rename_into(calls, processed, removal)
        assert placed is not None and placed.paths[0].endswith(".part"), "no copy put in place before the unlink"
        assert synced_between(calls, placed.paths[0], -1, placed.start), "copy not fsynced before its rename"
        assert synced_between(calls, str(processed), placed.end, removal.start), "processed/ not fsynced before unlink"


def _last_rename_into(calls: list[Call], folder: Path, before: Call) -> Call | None:
    """The last successful rename inside ``folder`` completed before ``before`` started."""
    found = [
        c
        for c in calls
        if c.name.startswith("rename") and c.ok and c.end < before.start and len(c.paths) == 2
        if _under(c.paths[0], folder) and _under(c.paths[1], folder)
    ]
    return found[-1] if found else None


def _binary(inbox: Path) -> Path:
    path = inbox / "alice" / "scan.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00\x01\x02\x03\xff\xfe not a document " * 8)
    return path


def _assert_sidecar_durable(calls: list[Call], quarantine: Path, before: Call) -> None:
    """The sidecar was fsynced under its temporary name, renamed, and the folder fsynced, all before ``before``."""
    sidecar = _last_rename_into(calls, quarantine, before)
    assert sidecar is not None and sidecar.paths[1].endswith(".error.json"), "no sidecar before the move"
    assert synced_between(calls, sidecar.paths[0], -1, sidecar.start), "sidecar not fsynced before its rename"
    assert synced_between(calls, str(quarantine), sidecar.end, before.start), "sidecar's folder not fsynced"


def test_a_quarantined_file_is_synced_with_its_sidecar_and_folder(sqlite_env, home, tmp_path):
    inbox = home / "inbox"
    bad = _binary(inbox)
    good = _files(inbox, 2)
    proc, calls = ingest_now(_env(sqlite_env), inbox, tmp_path)
    summary = json.loads(proc.stdout)
    assert proc.returncode == 0 and summary["quarantined"] == 1 and summary["stored"] == 2, proc.stderr
    quarantine = home / "quarantine"
    (moved,) = [c for c in removals_from(calls, inbox) if c.paths[0] == str(bad)]
    assert moved.name.startswith("rename") and moved.paths[1] == str(quarantine / "scan.txt")
    _assert_sidecar_durable(calls, quarantine, moved)
    assert synced_between(calls, str(bad), -1, moved.start), "quarantined file not fsynced before its rename"
    assert synced_between(calls, str(quarantine), moved.end, len(calls) * 10), "quarantine/ not fsynced after"
    for removal in removals_from(calls, inbox):
        if removal.paths[0] in map(str, good):
            assert_db_durable_before(calls, home / "mediflux.db", removal)


def test_a_file_quarantined_across_filesystems_is_copied_and_synced_before_the_unlink(
    sqlite_env, home, tmp_path, other_fs_inbox
):
    bad = _binary(other_fs_inbox)
    proc, calls = ingest_now(_env(sqlite_env, MEDIFLUX_INBOX=str(other_fs_inbox)), other_fs_inbox, tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout)["quarantined"] == 1, proc.stderr
    quarantine = home / "quarantine"
    (removal,) = removals_from(calls, other_fs_inbox)
    assert removal.name.startswith("unlink") and removal.paths[0] == str(bad)
    _assert_sidecar_durable(calls, quarantine, removal)
    copy = str(quarantine / "scan.txt")
    syncs = [c for c in calls if c.name in SYNCS and c.ok and c.paths[:1] == [copy] and c.end < removal.start]
    assert syncs, "the copy was not fsynced before the source was unlinked"
    assert synced_between(calls, str(quarantine), syncs[-1].end, removal.start), "quarantine/ not fsynced before"
    assert (quarantine / "scan.txt").read_bytes() == b"\x00\x01\x02\x03\xff\xfe not a document " * 8


API_SCRIPT = """
import asyncio, os, sys
from worker.api import open_api, open_async_api

api = open_api()
os.write(1, b"BEGIN-CALLS\\n")
api.create_profile("u-sync", {"department": "75"})
os.write(1, b"RETURNED-create_profile\\n")
pathway = api.store_pathway("u-sync", "asthme", {"steps": [{"id": "s1"}]})
os.write(1, b"RETURNED-store_pathway\\n")
api.record_decision("u-sync", pathway.id, "s1", {"choice": "ok"})
os.write(1, b"RETURNED-record_decision\\n")
api.close()

async def main():
    aapi = open_async_api()
    await aapi.create_profile("u-async", {"department": "69"})
    os.write(1, b"RETURNED-async_create_profile\\n")
    await aapi.close()

asyncio.run(main())
"""


def _api_trace(sqlite_env: dict[str, str], tmp_path: Path, **extra: str) -> tuple[list[Call], list[int]]:
    script = tmp_path / "api_calls.py"
    script.write_text(API_SCRIPT)
    proc, calls = traced(_env(sqlite_env, **extra), [sys.executable, str(script)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    trace = (tmp_path / "trace.txt").read_text(errors="replace").splitlines()
    begin = next(i for i, line in enumerate(trace) if "BEGIN-CALLS" in line)
    returned = [i for i, line in enumerate(trace) if "RETURNED-" in line]
    assert len(returned) == 4
    return [c for c in calls if c.start > begin], returned


def _returned_unsynced(calls: list[Call], returned: list[int], wal: str) -> list[int]:
    """The calls (by rank) that returned while their last WAL write was not yet fsynced."""
    unsynced, previous = [], -1
    for rank, mark in enumerate(returned):
        writes = [c for c in calls if c.name in WRITES and c.ok and c.paths[:1] == [wal] and previous < c.end < mark]
        assert writes, "the call wrote nothing to the WAL"
        if not synced_between(calls, wal, writes[-1].end, mark):
            unsynced.append(rank)
        previous = mark
    return unsynced


def test_data_api_writes_are_fsynced_before_the_call_returns(sqlite_env, home, tmp_path):
    calls, returned = _api_trace(sqlite_env, tmp_path)
    assert _returned_unsynced(calls, returned, str(home / "mediflux.db") + "-wal") == []


def test_data_api_durability_can_be_turned_off(sqlite_env, home, tmp_path):
    calls, returned = _api_trace(sqlite_env, tmp_path, MEDIFLUX_API_DURABLE="0")
    assert _returned_unsynced(calls, returned, str(home / "mediflux.db") + "-wal") != []  # NORMAL: not synced


@pytest.mark.parametrize("setting", ["off", "local"])
def test_postgresql_without_durable_commits_is_refused_for_ingestion(pg_schema_url, home, tmp_path, setting):
    url = pg_schema_url + f"%20-csynchronous_commit%3D{setting}"  # appended to the URL's libpq options
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIFLUX_")}
    env |= {"MEDIFLUX_HOME": str(home), "MEDIFLUX_DATABASE_URL": url, "MEDIFLUX_INGEST_GRACE_SECONDS": "0"}
    files = _files(home / "inbox", 3)
    proc = subprocess.run(
        [sys.executable, "-m", "worker.cli", "ingest", "--now", "--json", str(home / "inbox")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 1, proc.stderr  # left for a retry: no crash, no traceback
    summary = json.loads(proc.stdout)
    assert (
        summary["stored"] == 0 and summary["retry"] == 3 and summary["reasons"] == {"commit_not_durable": 1}
    )  # one batch
    assert all(f.exists() for f in files)
    (line,) = [line for line in proc.stderr.splitlines() if "synchronous_commit" in line]
    assert f"synchronous_commit={setting}" in line and "Traceback" not in proc.stderr
    from models.database import open_database

    check = open_database(pg_schema_url, bind=False)
    assert check.execute_sql("SELECT count(*) FROM documents").fetchone()[0] == 0
    check.close()
    # the same database with the default (on) ingests them
    ok = subprocess.run(
        [sys.executable, "-m", "worker.cli", "ingest", "--now", "--json", str(home / "inbox")],
        env=env | {"MEDIFLUX_DATABASE_URL": pg_schema_url},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["stored"] == 3, ok.stderr
    assert not any(f.exists() for f in files)
