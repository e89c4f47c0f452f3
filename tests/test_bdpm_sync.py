"""Syncing the mirror from a real HTTP server on 127.0.0.1 that serves the official files, faults included.

A reader thread queries throughout every sync (counts, a medicine, a name-index search) and must never see an
empty mirror (once one version is live) nor a mixed one (rows of a version other than the one the pointer names,
or a version only partly loaded); it must still be alive and reading after each sync.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from models import db
from models.bdpm import BdpmVersion
from tests.bdpm_data import reference_folder, subset_files
from tests.bdpm_server import BdpmSite
from tests.conftest import wait_for
from worker.bdpm import lookup, store, versions
from worker.bdpm.status import mirror_status
from worker.bdpm.sync import sync
from worker.config import Settings, load_settings


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return reference_folder(tmp_path_factory.mktemp("bdpm-ref"))


@pytest.fixture(scope="module")
def small(reference: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return subset_files(reference, tmp_path_factory.mktemp("bdpm-small"), specialities=150)


@pytest.fixture
def site(small: dict[str, bytes]) -> Iterator[BdpmSite]:
    with BdpmSite(small) as s:
        yield s


def _settings(env: dict[str, str], site: BdpmSite) -> Settings:
    return load_settings({**env, "MEDIFLUX_BDPM_FILES_URL": site.url})


class Reader(threading.Thread):
    """Reads the mirror as the app would, as fast as it can — counts, a medicine, a name-index search — and notes
    anything empty or mixed. Any exception is an error too (it never kills the thread unseen)."""

    MAX_ERRORS = 100
    SEARCH_CIS = "62401060"  # ABACAVIR MYLAN 300 mg: in every subset (its name is found; "A 313 …" ones are not)

    def __init__(self, known_cis: str) -> None:
        super().__init__(daemon=True)
        self.known_cis = known_cis
        self.stop = threading.Event()
        self.reads = 0
        self.searches = 0
        self.seen: set[int] = set()
        self.errors: list[str] = []
        self.expected: dict[int, dict[str, int]] = {}
        self.search_text = ""

    def error(self, text: str) -> None:
        if len(self.errors) < self.MAX_ERRORS:
            self.errors.append(text)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    self.read_once()
                except BaseException as exc:  # noqa: BLE001 — any failure is the test's, not a dead thread's
                    self.error(f"{type(exc).__name__}: {exc}")
        finally:
            db.close()

    def read_once(self) -> None:
        version = store.current_version(db)
        if version is None:
            self.error("empty mirror")
            return
        if version not in self.expected:
            self.expected[version] = dict(BdpmVersion.get_by_id(version).counts)
        counts = store.version_counts(db, version)
        if counts != self.expected[version]:
            self.error(f"version {version}: {counts} != {self.expected[version]}")
        found = store.get_by_cis(db, self.known_cis, version)
        if found is None or found["mirror_version"] != version or not found["substances"]:
            self.error(f"version {version}: {self.known_cis} missing or partial")
            return
        if not self.search_text:
            target = store.get_by_cis(db, self.SEARCH_CIS, version)
            self.search_text = target["denomination"] if target else "ABACAVIR MYLAN 300 mg"
        candidates = lookup.search(db, self.search_text, 5)  # the live version's name index (built once per version)
        if not candidates or candidates[0]["cis"] != self.SEARCH_CIS:
            self.error(f"version {version}: the name index does not find {self.SEARCH_CIS} first")
        elif candidates[0]["mirror_version"] < version:
            self.error(f"version {version}: the name index answered from version {candidates[0]['mirror_version']}")
        self.searches += 1
        self.seen.add(version)
        self.reads += 1


@contextmanager
def reading(known_cis: str) -> Iterator[Reader]:
    """Run the block (a sync) while a :class:`Reader` reads: it has read before the block starts, is still
    alive when it ends and reads again after it started; no read saw anything wrong."""
    reader = Reader(known_cis)
    reader.start()
    try:
        wait_for(lambda: reader.reads > 0 or reader.errors or not reader.is_alive(), 120, message="a first read")
        assert reader.reads > 0 and not reader.errors, reader.errors[:5]
        started = reader.reads
        yield reader
        assert reader.is_alive(), reader.errors[:5]
        wait_for(lambda: reader.reads > started or not reader.is_alive(), 60, message="reads after the sync started")
        assert reader.is_alive() and reader.reads > started and reader.searches >= reader.reads, reader.errors[:5]
    finally:
        reader.stop.set()
        reader.join(30)
    assert not reader.is_alive() and not reader.errors, reader.errors[:5]


def _first_cis(files: dict[str, bytes]) -> str:
    return files["CIS_bdpm.txt"].split(b"\t", 1)[0].decode()


def test_full_reference_snapshot_then_304(database, env, reference: Path) -> None:
    with BdpmSite.from_folder(reference) as site:
        settings = _settings(env, site)
        first = sync(settings)
        assert first.outcome == "updated", first.problems
        assert sum(store.version_counts(db, first.version).values()) == 127144
        assert first.files["CIS_CIP_bdpm.txt"]["line_ends"] == "lf"
        assert first.files["CIS_bdpm.txt"]["line_ends"] == "crlf"
        assert first.files["CIS_bdpm.txt"]["encoding"] == "utf-8"
        checks = BdpmVersion.get_by_id(first.version).report["checks"]
        assert 0.2 < checks["orphans"]["generiques"] < 0.22  # withdrawn specialities stay in their generic groups
        with reading(_first_cis(site.files)):
            again = sync(settings)
        assert again.outcome == "unchanged" and again.version == first.version
        assert [s for _, s in site.statuses[-8:]] == [304] * 8
    state = mirror_status(db)
    assert state["version"] == first.version and state["last_outcome"] == "unchanged" and not state["empty"]
    assert {f["name"]: f["rows"] for f in state["files"]}["CIS_COMPO_bdpm.txt"] == 30594


@pytest.mark.parametrize(("codec", "newline"), [("latin-1", b"\n"), ("utf-8", b"\r\n")], ids=["latin1-lf", "utf8-crlf"])
def test_re_encoded_copies_give_the_same_mirror(database, env, site: BdpmSite, codec: str, newline: bytes) -> None:
    settings = _settings(env, site)
    original = sync(settings)
    cis = _first_cis(site.files)
    before = store.get_by_cis(db, cis)
    for name, data in list(site.files.items()):
        text = data.decode("utf-8").replace("\u2019", "'").replace("\u0153", "oe").replace("\u2264", "<=")
        text = text.replace("\u2265", ">=").replace("\u00b5", "u")
        body = text.replace("\r\n", "\n").encode(codec, errors="strict").replace(b"\n", newline)
        site.files[name] = body
    with reading(cis):
        result = sync(settings)
    assert result.outcome == "updated", result.problems
    expected = {"latin-1": {"latin-1", "ascii"}, "utf-8": {"utf-8", "ascii"}}[codec]
    assert {f["encoding"] for f in result.files.values()} <= expected
    assert {f["line_ends"] for f in result.files.values()} == {"lf" if newline == b"\n" else "crlf"}
    after = store.get_by_cis(db, cis)
    assert before is not None and after is not None
    assert after["denomination"] == before["denomination"] and after["mirror_version"] == result.version
    assert result.previous == original.version


@pytest.mark.parametrize(
    ("fault", "outcome", "words"),
    [
        ("truncated", "rejected", "in the live version"),  # cut on a line end: the shrink guard sees it
        ("html", "failed", "HTML page"),
        ("500", "failed", "HTTP 500"),
        ("reset", "failed", "connection reset"),
    ],
)
def test_a_bad_download_keeps_the_old_version(
    database, env, site: BdpmSite, fault: str, outcome: str, words: str
) -> None:
    settings = _settings(env, site)
    good = sync(settings)
    assert good.outcome == "updated"
    site.files["CIS_COMPO_bdpm.txt"] += (
        b"60002283\tcomprim\xc3\xa9\t42215\tANASTROZOLE\t2 mg\tun comprim\xc3\xa9\tSA\t2\t\r\n"
    )
    site.inject("CIS_COMPO_bdpm.txt", *[fault] * (2 if fault in ("500", "reset") else 1))  # every attempt fails
    with reading(_first_cis(site.files)):
        bad = sync(settings)
    assert bad.outcome == outcome and any(words in p for p in bad.problems), bad.problems
    assert store.current_version(db) == good.version
    state = mirror_status(db)
    assert state["last_outcome"] == outcome and words in state["last_error"]
    assert state["last_success_at"] is not None
    assert not (settings.home / "bdpm" / "incoming" / "CIS_COMPO_bdpm.txt.part").exists()
    retry = sync(settings)  # the fault is gone: the new file is fetched and goes live
    assert retry.outcome == "updated" and retry.previous == good.version


def test_a_truncated_file_on_an_empty_mirror_goes_nowhere_and_says_why(database, env, site: BdpmSite) -> None:
    settings = _settings(env, site)
    site.inject("CIS_CIP_bdpm.txt", "truncated")  # half the file, with a matching length: only the bytes tell
    result = sync(settings)
    assert result.outcome == "rejected", result.problems
    assert result.problems == ["CIS_CIP_bdpm.txt: no newline at the end of the file: it may be cut short"]
    assert store.current_version(db) is None
    state = mirror_status(db)
    assert state["empty"] and state["last_outcome"] == "rejected" and "CIS_CIP_bdpm.txt" in state["last_error"]
    assert "cut short" in state["last_error"]
    assert sync(settings).outcome == "updated"  # the whole file next time


def test_a_file_cut_at_90_percent_is_rejected_under_the_shrink_guard(database, env, site: BdpmSite) -> None:
    settings = _settings(env, site)
    good = sync(settings)
    data = site.files["CIS_CPD_bdpm.txt"]
    cut = int(len(data) * 0.9)
    while data[cut - 1 : cut] in (b"\n", b"\r"):
        cut += 1
    site.files["CIS_CPD_bdpm.txt"] = data[:cut]  # -10 % of the rows: the shrink guard alone lets it through
    cis = data[:cut].rsplit(b"\n", 1)[1].split(b"\t", 1)[0].decode()  # the cut row's speciality
    before = store.get_by_cis(db, cis)
    with reading(_first_cis(site.files)):
        bad = sync(settings)
    assert bad.outcome == "rejected" and bad.problems == [
        "CIS_CPD_bdpm.txt: no newline at the end of the file: it may be cut short"
    ]
    assert store.current_version(db) == good.version and store.get_by_cis(db, cis) == before
    assert mirror_status(db)["last_outcome"] == "rejected"


def test_one_reset_is_retried(database, env, site: BdpmSite) -> None:
    settings = _settings(env, site)
    site.inject("CIS_bdpm.txt", "reset")
    result = sync(settings)
    assert result.outcome == "updated" and site.calls["CIS_bdpm.txt"] == 2


def test_thirty_percent_missing_is_rejected(database, env, site: BdpmSite) -> None:
    settings = _settings(env, site)
    good = sync(settings)
    lines = site.files["CIS_CPD_bdpm.txt"].splitlines(keepends=True)
    site.files["CIS_CPD_bdpm.txt"] = b"".join(lines[: int(len(lines) * 0.7)])
    with reading(_first_cis(site.files)):
        bad = sync(settings)
    assert bad.outcome == "rejected"
    assert any("CIS_CPD_bdpm.txt" in p and "at most -20%" in p for p in bad.problems), bad.problems
    assert store.current_version(db) == good.version
    assert BdpmVersion.select().where(BdpmVersion.state == "rejected").count() == 1
    assert store.version_counts(db, good.version + 1)["conditions"] == 0  # the shadow rows are gone


def test_a_file_served_twice_over_never_doubles_a_row(database, env, site: BdpmSite) -> None:
    settings = _settings(env, site)
    good = sync(settings)
    original = dict(site.files)
    first_cpd = original["CIS_CPD_bdpm.txt"].split(b"\t", 1)[0].decode()
    first_compo = original["CIS_COMPO_bdpm.txt"].split(b"\t", 1)[0].decode()
    before = {cis: store.get_by_cis(db, cis) for cis in (first_cpd, first_compo)}
    site.files["CIS_CPD_bdpm.txt"] *= 2  # concatenated: no row identity in these files, every line repeats
    site.files["CIS_COMPO_bdpm.txt"] *= 2
    with reading(_first_cis(site.files)):
        doubled = sync(settings)
    assert (
        doubled.outcome == "rejected"
        and doubled.files["CIS_CPD_bdpm.txt"]["bad_rows"] == doubled.files["CIS_CPD_bdpm.txt"]["rows"]
    )
    assert any(p.startswith("CIS_COMPO_bdpm.txt: ") and "bad rows" in p for p in doubled.problems), doubled.problems
    assert store.current_version(db) == good.version
    assert {cis: store.get_by_cis(db, cis) for cis in before} == before
    for name in ("CIS_CPD_bdpm.txt", "CIS_COMPO_bdpm.txt"):  # a few repeated lines: loaded once
        lines = original[name].splitlines(keepends=True)
        site.files[name] = b"".join(lines + lines[:2])
    result = sync(settings)
    assert result.outcome == "updated", result.problems
    assert result.files["CIS_CPD_bdpm.txt"]["bad_rows"] == result.files["CIS_COMPO_bdpm.txt"]["bad_rows"] == 2
    for cis, was in before.items():
        now = store.get_by_cis(db, cis)
        assert now is not None and was is not None
        assert now["conditions_prescription"] == was["conditions_prescription"]
        assert now["substances"] == was["substances"]


def test_a_file_grown_by_more_than_half_is_rejected(database, env, site: BdpmSite) -> None:
    settings = _settings(env, site)
    good = sync(settings)
    lines = site.files["CIS_CPD_bdpm.txt"].splitlines(keepends=True)
    new = [line.replace(b"\t", b"\tnouvelle condition ", 1) for line in lines[: int(len(lines) * 0.6)]]
    site.files["CIS_CPD_bdpm.txt"] = b"".join(lines + new)  # +60 %, every row distinct and valid
    with reading(_first_cis(site.files)):
        bad = sync(settings)
    assert bad.outcome == "rejected" and bad.files["CIS_CPD_bdpm.txt"]["bad_rows"] == 0
    assert bad.problems == [
        f"CIS_CPD_bdpm.txt: {len(lines) + len(new)} rows against {len(lines)} in the live version "
        "(+60%; at most +50% is accepted)"
    ]
    assert store.current_version(db) == good.version
    assert store.version_counts(db, good.version)["conditions"] == len(lines)


def test_a_new_version_with_rows_added_and_removed(database, env, site: BdpmSite, reference: Path) -> None:
    settings = _settings(env, site)
    good = sync(settings)
    specs = site.files["CIS_bdpm.txt"].splitlines(keepends=True)
    removed = specs[0].split(b"\t", 1)[0].decode()
    kept = specs[1].split(b"\t", 1)[0].decode()
    extra = (reference / "CIS_bdpm.txt").read_bytes().splitlines(keepends=True)[-5:]
    added = extra[0].split(b"\t", 1)[0].decode()
    site.files["CIS_bdpm.txt"] = b"".join(specs[1:] + extra)
    for name in ("CIS_COMPO_bdpm.txt",):
        rows = [r for r in site.files[name].splitlines(keepends=True) if not r.startswith(removed.encode())]
        new = [
            r
            for r in (reference / name).read_bytes().splitlines(keepends=True)
            if r.split(b"\t")[0] in {e.split(b"\t", 1)[0] for e in extra}
        ]
        site.files[name] = b"".join(rows + new)
    with reading(kept) as reader:
        result = sync(settings)
    assert result.outcome == "updated", result.problems
    assert reader.seen <= {good.version, result.version}
    assert store.get_by_cis(db, removed) is None and store.get_by_cis(db, added) is not None
    assert store.get_by_cis(db, removed, version=good.version) is not None  # the previous version is kept
    assert versions.live_versions(db) == (result.version, good.version)
    assert any("CIS_bdpm.txt: +4 rows" in n for n in result.notes)
    assert [s for n, s in site.statuses[-8:] if n != "CIS_bdpm.txt" and n != "CIS_COMPO_bdpm.txt"] == [304] * 6


def test_force_refetches_and_builds_a_version(database, env, site: BdpmSite) -> None:
    settings = _settings(env, site)
    first = sync(settings)
    forced = sync(settings, force=True)
    assert forced.outcome == "updated" and forced.version == first.version + 1
    assert all(s == 200 for _, s in site.statuses[-8:])


def test_an_empty_mirror_with_the_site_down_fails_and_says_why(database, env, site: BdpmSite) -> None:
    settings = _settings(env, site)
    site.inject("CIS_bdpm.txt", "500", "500")
    result = sync(settings)
    assert result.outcome == "failed" and site.calls["CIS_CIP_bdpm.txt"] == 0  # stopped at the first required file
    state = mirror_status(db)
    assert state["empty"] and state["last_outcome"] == "failed" and "HTTP 500" in state["last_error"]


def test_gzip_answers_and_the_size_cap(database, env, site: BdpmSite, monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.bdpm import download

    settings = _settings(env, site)
    site.gzip = True
    zipped = sync(settings)
    assert zipped.outcome == "updated" and zipped.files["CIS_bdpm.txt"]["rows"] == 150
    monkeypatch.setattr(download, "MAX_FILE_BYTES", 4096)
    capped = sync(settings, force=True)
    assert capped.outcome == "failed" and any("cap" in p for p in capped.problems), capped.problems
    assert store.current_version(db) == zipped.version
