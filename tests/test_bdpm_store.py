"""The mirror's tables on SQLite and PostgreSQL: load a shadow version, verify, swap, read by CIS/CIP, prune."""

from __future__ import annotations

import dataclasses

import pytest

from tests.bdpm_data import reference_folder, subset
from worker.bdpm import store, versions
from worker.bdpm.parse import Snapshot, parse_folder
from worker.bdpm.verify import verify


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    ref = reference_folder(tmp_path_factory.mktemp("bdpm-ref"))
    return parse_folder(subset(ref, tmp_path_factory.mktemp("bdpm-small"), specialities=200))


def _load(database, snap: Snapshot) -> int:
    version = versions.begin_version(database)
    counts = store.load(database, version, snap)
    versions.describe(database, version, counts, {"files": snap.reports()})
    return version


def _drop(snap: Snapshot, name: str, share: float) -> Snapshot:
    files = dict(snap.files)
    parsed = files[name]
    keep = parsed.records[: int(len(parsed.records) * (1 - share))]
    files[name] = dataclasses.replace(parsed, records=keep)
    return Snapshot(files)


def test_empty_mirror_answers_none(database) -> None:
    assert store.current_version(database) is None
    assert store.get_by_cis(database, "61266250") is None
    assert store.get_by_cip(database, "3400930001479") is None


def test_load_verify_swap_and_read(database, small: Snapshot) -> None:
    version = _load(database, small)
    assert store.current_version(database) is None  # loaded, not yet visible
    check = verify(database, version, None)
    assert check.ok, check.problems
    assert check.counts["specialites"] == 200
    versions.swap(database, version)
    assert store.current_version(database) == version

    spec = small.records("CIS_bdpm.txt")[0]
    found = store.get_by_cis(database, spec.cis)
    assert found is not None and found["CIS"] == spec.cis and found["denomination"] == spec.denomination
    assert found["voies_administration"] == list(spec.voies_administration)
    assert found["substances"] and found["mirror_version"] == version

    box = next(p for p in small.records("CIS_CIP_bdpm.txt") if p.prix_avec_honoraires is not None)
    by13, by7 = store.get_by_cip(database, box.cip13), store.get_by_cip(database, box.cip7)
    assert by13 is not None and by7 is not None and by13["CIS"] == by7["CIS"] == box.cis
    assert by13["presentation"]["CIP13"] == box.cip13
    assert by13["presentation"]["prix_avec_honoraires"] == float(box.prix_avec_honoraires)
    assert store.get_by_cip(database, "12345") is None

    grouped = {g.cis: g for g in small.records("CIS_GENER_bdpm.txt")}
    rows = {r.cis: r for r in store.index_rows(database, version)}
    assert len(rows) == 200
    cis = next(c for c in grouped if c in rows)
    assert rows[cis].groupe_generique == grouped[cis].libelle
    assert all(r.substances for r in rows.values())


def test_a_shrunk_file_is_rejected_and_the_old_version_kept(database, small: Snapshot) -> None:
    first = _load(database, small)
    versions.swap(database, first)
    shrunk = _load(database, _drop(small, "CIS_CIP_bdpm.txt", 0.30))
    check = verify(database, shrunk, store.version_counts(database, first))
    assert not check.ok
    assert "CIS_CIP_bdpm.txt" in check.problems[0] and "-30%" in check.problems[0]
    versions.reject(database, shrunk, "; ".join(check.problems))
    assert store.current_version(database) == first
    state = versions.state(database)
    assert state["last_outcome"] == "rejected" and "CIS_CIP_bdpm.txt" in state["last_error"]
    assert versions.prune(database) > 0
    assert store.version_counts(database, shrunk)["presentations"] == 0
    assert store.version_counts(database, first)["presentations"] == len(small.records("CIS_CIP_bdpm.txt"))


def test_orphans_are_caught(database, small: Snapshot) -> None:
    check_version = _load(database, _drop(small, "CIS_bdpm.txt", 0.5))
    check = verify(database, check_version, None)
    assert any("name a CIS missing" in p for p in check.problems)


def test_swap_keeps_the_previous_version_and_prune_the_older(database, small: Snapshot) -> None:
    ids = []
    for _ in range(3):
        ids.append(_load(database, small))
        versions.swap(database, ids[-1])
    assert versions.live_versions(database) == (ids[2], ids[1])
    versions.prune(database)
    assert store.version_counts(database, ids[0])["specialites"] == 0
    assert store.version_counts(database, ids[1])["specialites"] == 200
    assert store.get_by_cis(database, small.records("CIS_bdpm.txt")[0].cis, version=ids[1]) is not None
