"""A user folder swapped for a symlink while files are ingested: nothing outside the inbox is read or removed.

A racing thread exchanges ``inbox/<user>`` with a symlink to an outside folder (``renameat2(RENAME_EXCHANGE)``:
the name is always either the real folder or the link, never missing) in a tight loop, while the landed files are
ingested in batches. The outside folder holds canaries under the same names, with content of their own: a worker
that resolved the path again after its check would store a canary and delete it. A file hard-linked into the inbox
from outside is quarantined (``hard_link``) without being read or chmod-ed.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest

from models import Document
from tests.ingest_fixtures import one_per_format, sqlite_inbox_settings, variant
from worker.ingest import ingest_batch
from worker.quarantine import entries

FILES = 1_000
BAD_EVERY = 10  # every tenth landed file is bad JSON: quarantined, which moves it, under the same race
BATCH = 25
DEADLINE_S = 50
_RENAME_EXCHANGE = 2


@pytest.fixture
def s(tmp_path):
    yield from sqlite_inbox_settings(tmp_path)


def _exchanger(parent: str):
    """``exchange(a, b)``: swap two names of ``parent`` atomically; None when the kernel or libc cannot."""
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "renameat2"):
        return None
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)

    def exchange(a: bytes, b: bytes) -> None:
        if libc.renameat2(fd, a, fd, b, _RENAME_EXCHANGE) != 0:
            raise OSError(ctypes.get_errno(), "renameat2")

    return exchange, fd


def _snapshot(folder) -> dict[str, tuple[int, int, int, bytes]]:
    out = {}
    for p in folder.iterdir():
        st = os.lstat(p)
        out[p.name] = (st.st_ino, st.st_mtime_ns, stat.S_IMODE(st.st_mode), p.read_bytes())
    return out


def test_a_user_folder_swapped_for_a_link_in_a_tight_loop_never_leaks_outside(s, tmp_path):
    sample = one_per_format()[".txt"]
    outside = tmp_path / "outside"
    outside.mkdir()
    real = s.inbox / "u-race"
    real.mkdir()
    names = [f"bad-{i:04d}.json" if i % BAD_EVERY == 0 else f"scan-{i:04d}.txt" for i in range(FILES)]
    landed, bad = {}, {}
    for i, name in enumerate(names):
        if name.startswith("bad"):
            (real / name).write_bytes(bad.setdefault(name, b'{"oops": %d' % i))
            (outside / name).write_bytes(b'{"canary": %d' % i)  # bad too: a followed path would quarantine it
            continue
        data = variant(sample, i)
        (real / name).write_bytes(data)
        landed[name] = hashlib.sha256(data).hexdigest()
        # a canary is a perfectly storable document: only where it lives keeps it out
        (outside / name).write_bytes(f"CANARY {i}: Ordonnance hors de la boîte de dépôt\n".encode())
    canaries = _snapshot(outside)
    canary_shas = {hashlib.sha256(v[3]).hexdigest() for v in canaries.values()}
    (s.inbox / ".swap").symlink_to(outside, target_is_directory=True)
    made = _exchanger(str(s.inbox))
    if made is None:
        pytest.skip("renameat2 is not available")
    exchange, parent_fd = made
    try:
        exchange(b"u-race", b".swap")  # the link takes the folder's name, and back
        exchange(b"u-race", b".swap")
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.ENOSYS):
            pytest.skip("RENAME_EXCHANGE is not supported on this filesystem")
        raise
    real_fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY)  # follows the real folder wherever the swap puts it

    stop = threading.Event()
    swaps = [0]

    def race() -> None:
        while not stop.is_set():
            exchange(b"u-race", b".swap")
            swaps[0] += 1

    racer = threading.Thread(target=race, daemon=True)
    racer.start()
    attempts = 0
    reasons: dict[str, int] = {}
    deadline = time.monotonic() + DEADLINE_S
    try:
        while time.monotonic() < deadline:
            pending = sorted(set(os.listdir(real_fd)) & set(names))
            if not pending:  # on a loaded machine most attempts meet the link: only the deadline bounds them
                break
            for start in range(0, len(pending), BATCH):
                chunk = [str(s.inbox / "u-race" / n) for n in pending[start : start + BATCH]]
                report = ingest_batch(chunk, s)
                attempts += len(chunk)
                for reason, n in report.reasons.items():
                    reasons[reason] = reasons.get(reason, 0) + n
    finally:
        stop.set()
        racer.join(10)
    if os.path.islink(s.inbox / "u-race"):
        exchange(b"u-race", b".swap")
    os.close(parent_fd)
    left = sorted(os.listdir(real_fd))
    os.close(real_fd)

    # the race ran: the name was swapped often, and ingestion met the link (refused it as outside the inbox)
    assert swaps[0] > 1000 and attempts >= FILES and reasons.get("outside_inbox", 0) > 0, (swaps[0], attempts, reasons)
    stored = list(Document.select(Document.sha256, Document.text, Document.user))
    assert not any(d.sha256 in canary_shas or "CANARY" in d.text for d in stored), "read a file outside the inbox"
    assert _snapshot(outside) == canaries, "a file outside the inbox was moved, deleted or changed"
    assert sorted(os.listdir(s.inbox / ".swap")) == sorted(names)  # the link still points at the canaries
    quarantined = {e.sidecar["original_name"]: e.path.read_bytes() for e in entries(s.home)}
    assert quarantined == bad and len(entries(s.home)) == len(bad)  # the inbox's bad files, each once; no canary
    # every landed file is stored exactly once, as the folder's user, and left the inbox
    assert left == [], (len(left), reasons)
    assert sorted(d.sha256 for d in stored) == sorted(landed.values()), reasons
    assert {d.user.user_id for d in stored} == {"u-race"}


def test_a_hard_link_to_an_outside_file_is_quarantined_unread_and_unchanged(s, tmp_path):
    outside = tmp_path / "secret.txt"
    data = b"Ordonnance: a file outside the inbox, linked in\n"
    outside.write_bytes(data)
    os.chmod(outside, 0o644)
    before = os.lstat(outside)
    folder = s.inbox / "u-1"
    folder.mkdir()
    link = folder / "linked.txt"
    os.link(outside, link)
    report = ingest_batch([str(link)], s)
    assert report.quarantined == 1 and report.stored == [] and report.reasons == {"hard_link": 1}, report.summary()
    assert Document.select().count() == 0
    (entry,) = entries(s.home)
    assert entry.sidecar["reason"] == "hard_link" and entry.sidecar["size"] == len(data)
    after = os.lstat(outside)
    assert outside.read_bytes() == data and stat.S_IMODE(after.st_mode) == 0o644
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert after.st_nlink == 2 and os.lstat(entry.path).st_ino == before.st_ino  # moved, not copied
    assert not link.exists()


def test_a_hard_link_is_never_kept_as_a_processed_copy(tmp_path):
    """With MEDIFLUX_KEEP_PROCESSED=1 a stored file is moved and chmod-ed 0600: a hard link never gets there."""
    gen = sqlite_inbox_settings(tmp_path, keep_processed="1")
    s = next(gen)
    try:
        outside = tmp_path / "shared.txt"
        outside.write_bytes(variant(one_per_format()[".txt"], 7))
        os.chmod(outside, 0o664)
        os.link(outside, s.inbox / "shared.txt")
        report = ingest_batch([str(s.inbox / "shared.txt")], s)
        assert report.reasons == {"hard_link": 1} and report.stored == []
        assert stat.S_IMODE(os.lstat(outside).st_mode) == 0o664
        assert not (s.home / "processed").exists() or not any((s.home / "processed").rglob("*.txt"))
        plain = s.inbox / "plain.txt"
        plain.write_bytes(variant(one_per_format()[".txt"], 8))
        os.chmod(plain, 0o644)
        assert len(ingest_batch([str(plain)], s).stored) == 1
        (kept,) = (s.home / "processed").rglob("*.txt")
        assert stat.S_IMODE(os.lstat(kept).st_mode) == 0o600
    finally:
        gen.close()


def test_a_file_replaced_between_reading_and_removal_is_left_for_its_own_pass(s, monkeypatch):
    """Right before the removal its name must still hold the inode that was read: a newer version written over
    it meanwhile stays in the inbox (reported for a retry) and is stored by the next pass."""
    from worker.ingest import batch

    path = s.inbox / "u-1" / "scan.txt"
    path.parent.mkdir()
    path.write_bytes(variant(one_per_format()[".txt"], 1))
    newer = variant(one_per_format()[".txt"], 2)
    commit = batch._commit

    def commit_then_replace(*args, **kwargs):
        out = commit(*args, **kwargs)
        tmp = path.with_name("scan.txt.tmp")
        tmp.write_bytes(newer)
        os.replace(tmp, path)  # the writer's next version lands under the same name
        return out

    with monkeypatch.context() as m:
        m.setattr(batch, "_commit", commit_then_replace)
        report = ingest_batch([str(path)], s)
    assert len(report.stored) == 1 and report.retry == [str(path)], report.summary()
    assert report.reasons == {"changed_before_removal": 1} and path.read_bytes() == newer
    assert len(ingest_batch([str(path)], s).stored) == 1 and not path.exists()
    assert Document.select().count() == 2


def test_an_inbox_that_is_itself_a_symlink_is_never_followed(tmp_path):
    """The inbox is opened O_NOFOLLOW: set to a link, nothing is read or removed (left for a retry, logged)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "x.txt"
    victim.write_bytes(variant(one_per_format()[".txt"], 3))
    gen = sqlite_inbox_settings(tmp_path)
    s = next(gen)
    try:
        s.inbox.rmdir()
        s.inbox.symlink_to(elsewhere, target_is_directory=True)
        report = ingest_batch([str(s.inbox / "x.txt"), str(s.inbox / "y.txt")], s)
        assert report.reasons == {"inbox_is_symlink": 2} and len(report.retry) == 2 and report.stored == []
        assert victim.exists() and Document.select().count() == 0
    finally:
        gen.close()


def test_across_filesystems_the_copies_come_from_the_inode_read_and_a_hard_link_stays_unread(tmp_path):
    """Inbox on another filesystem than the home: the processed copy and the quarantined file are copied from the
    descriptor of what was read; a hard-linked file is never copied (that would read it), it stays in place."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on another filesystem than the test's tmp folder")
    inbox = Path(tempfile.mkdtemp(dir=shm, prefix="mediflux-inbox-"))
    gen = sqlite_inbox_settings(tmp_path, keep_processed="1", inbox=str(inbox))
    s = next(gen)
    try:
        (inbox / "u-1").mkdir()
        good, bad, linked = inbox / "u-1" / "a.txt", inbox / "u-1" / "b.json", inbox / "u-1" / "c.txt"
        good.write_bytes(variant(one_per_format()[".txt"], 11))
        bad.write_bytes(b"{oops")
        other = inbox / "elsewhere.txt"  # the same filesystem as the link (hard links cannot cross)
        other.write_bytes(variant(one_per_format()[".txt"], 12))
        os.chmod(other, 0o644)
        os.link(other, linked)
        report = ingest_batch([str(good), str(bad), str(linked)], s)
        assert len(report.stored) == 1 and report.quarantined == 1, report.summary()
        assert report.reasons == {"invalid_json": 1, "hard_link": 1}
        (kept,) = (s.home / "processed").rglob("*.txt")
        assert stat.S_IMODE(os.lstat(kept).st_mode) == 0o600 and not good.exists()
        (entry,) = entries(s.home)
        assert entry.path.read_bytes() == b"{oops" and not bad.exists()
        assert linked.exists() and os.lstat(other).st_nlink == 2 and stat.S_IMODE(os.lstat(other).st_mode) == 0o644
        assert Document.select().count() == 1
    finally:
        gen.close()
        shutil.rmtree(inbox, ignore_errors=True)


def test_nested_folders_are_walked_one_component_at_a_time(s, tmp_path):
    """Below the user folder, every folder on the way is opened O_NOFOLLOW: a link deeper down is refused too."""
    deep = s.inbox / "u-1" / "2026" / "03"
    deep.mkdir(parents=True)
    (deep / "a.txt").write_bytes(variant(one_per_format()[".txt"], 21))
    outside = tmp_path / "outside"
    (outside / "03").mkdir(parents=True)
    (outside / "03" / "b.txt").write_bytes(variant(one_per_format()[".txt"], 22))
    (s.inbox / "u-1" / "2025").symlink_to(outside, target_is_directory=True)
    report = ingest_batch([str(deep / "a.txt"), str(s.inbox / "u-1" / "2025" / "03" / "b.txt")], s)
    assert len(report.stored) == 1 and report.reasons == {"outside_inbox": 1}, report.summary()
    assert Document.get().user.user_id == "u-1" and not (deep / "a.txt").exists()
    assert (outside / "03" / "b.txt").exists()
