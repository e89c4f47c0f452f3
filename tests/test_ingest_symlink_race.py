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
import stat
import threading
import time

import pytest

from models import Document
from tests.ingest_fixtures import one_per_format, sqlite_inbox_settings, variant
from worker.ingest import ingest_batch
from worker.quarantine import entries

FILES = 1_000
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
    names = [f"scan-{i:04d}.txt" for i in range(FILES)]
    landed = {}
    for i, name in enumerate(names):
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
            if not pending or attempts >= 20 * FILES:
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
    assert not entries(s.home), [e.sidecar for e in entries(s.home)]
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
