"""Name matching on the BDPM mirror: quality goals on the full reference snapshot, the same answers from
the store on SQLite and PostgreSQL, the analysis matched on the mirror (and re-matched after a sync), the
CLI and the data API."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import pytest

from bench.bdpm_match_eval import GOALS, evaluate, load_lines
from models import Document, db
from models.clock import utcnow
from tests import bdpm_reference
from tests.bdpm_data import reference_folder
from tests.conftest import run_cli
from worker.analysis import backlog, runner
from worker.bdpm import lookup, store, versions
from worker.bdpm.match import THRESHOLD, NameIndex
from worker.bdpm.parse import Snapshot, parse_folder
from worker.periodic import JobContext

PRODUCTS = (b"DOLIPRANE", b"XANAX", b"AMOXICILLINE", b"CLAMOXYL", b"LEVOTHYROX", b"ZOLPIDEM", b"STILNOX")
ORDO = (
    "Dr Paul ROCHE\nRPPS 10003456786\nLe 12/03/2026\nORDONNANCE\n"
    "XANAX 0,25 mg comprimé sécable\n1 cp le soir\n"
    "AMOXICILLINE 1 g comprimé dispersible\n1 cp matin et soir pendant 6 jours\n"
    "DOLIPRANE 1000 mg comprimé\n1 cp 3 fois par jour\n"
)


@pytest.fixture(scope="module")
def full_index() -> NameIndex:
    return NameIndex(bdpm_reference.index_rows())


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """The specialities of a few products (and every row of the other files about them), parsed."""
    ref = reference_folder(tmp_path_factory.mktemp("bdpm-ref"))
    dest = tmp_path_factory.mktemp("bdpm-products")
    lines = [x for x in (ref / "CIS_bdpm.txt").read_bytes().splitlines(True) if x.split(b"\t")[1].startswith(PRODUCTS)]
    kept = {x.split(b"\t", 1)[0] for x in lines}
    (dest / "CIS_bdpm.txt").write_bytes(b"".join(lines))
    for path in ref.glob("CIS_*_bdpm.txt"):
        if path.name != "CIS_bdpm.txt":
            at = 2 if path.name == "CIS_GENER_bdpm.txt" else 0
            rows = [x for x in path.read_bytes().splitlines(True) if x.split(b"\t")[at] in kept]
            (dest / path.name).write_bytes(b"".join(rows))
    (dest / "HAS_LiensPageCT_bdpm.txt").write_bytes(b"")
    return parse_folder(dest)


def _publish(database, snap: Snapshot) -> int:
    version = versions.begin_version(database)
    counts = store.load(database, version, snap)
    versions.describe(database, version, counts, {"files": snap.reports()})
    versions.swap(database, version)
    return version


def _ordonnance(text: str = ORDO, name: str = "o") -> int:
    pages = [{"number": 1, "text": text, "confidence": 0.9, "words": []}]
    sha = hashlib.sha256((name + text).encode()).hexdigest()
    return Document.create(original_filename=name, sha256=sha, format="text", pages=pages, text=text).id


def test_quality_goals_on_the_full_reference_snapshot(full_index: NameIndex) -> None:
    lines = load_lines()
    assert len(lines) >= 300
    result = evaluate(full_index, lines)["kinds"]["all"]
    assert result["top1"] >= GOALS["top1"], result
    assert result["wrong_above_threshold"] <= GOALS["wrong_above_threshold"], result


@pytest.mark.parametrize(
    ("line", "cis"),
    [
        ("Xanax 0,25 mg cp sécable", "69847791"),
        ("XANAX0,25mgcp", "69847791"),
        ("Doliprane 1000", "60234100"),
        ("D0LIPRANE 1OOO mg comprimé", "60234100"),
        ("doliprane 1 g gél", "69309629"),
        ("LEVOTHYROX 50 µg", "65143010"),
        ("levothyrox 50 microgrammes cp séc", "65143010"),
    ],
)
def test_brand_lines_despite_ocr_noise(full_index: NameIndex, line: str, cis: str) -> None:
    top = full_index.search(line)[0]
    assert top.cis == cis and top.score >= THRESHOLD


def test_substance_names_give_the_group_princeps_first(full_index: NameIndex) -> None:
    found = full_index.search("AMOXICILLINE 1g cp disp")
    top = found[0]
    assert top.matched_on == "substance" and top.score >= THRESHOLD
    assert top.generic_group is not None and top.generic_group["type"] == 0  # CLAMOXYL, the group's princeps
    assert {c.generic_group["id"] for c in found if c.generic_group} == {top.generic_group["id"]}
    assert "CLAMOXYL" in top.denomination


def test_wrong_strength_or_unknown_name_stays_below_the_threshold(full_index: NameIndex) -> None:
    assert full_index.search("XANAX 3 mg")[0].score < THRESHOLD
    assert all(c.score < THRESHOLD for c in full_index.search("ZORBILAX 20 mg cp"))
    assert all(c.score < THRESHOLD for c in full_index.search("1 comprimé matin midi et soir"))
    assert full_index.search("1 cp") == []


def test_the_store_gives_the_index_the_same_rows_on_both_backends(database, products: Snapshot) -> None:
    version = _publish(database, products)
    from_store = NameIndex(store.index_rows(database, version))
    from_files = NameIndex(bdpm_reference.rows_of(products))
    for line in ("Xanax 0,25 mg cp", "AMOXICILLINE 1g", "Doliprane 1000", "zolpidem 10 mg", "CLAM0XYL 500 mg gél"):
        assert [(c.cis, c.score) for c in from_store.search(line)] == [
            (c.cis, c.score) for c in from_files.search(line)
        ]
    found = lookup.search(database, "Xanax 0,25 mg cp", 3)
    assert found[0]["cis"] == "69847791" and found[0]["matched"] and found[0]["mirror_version"] == version


def test_analysis_matches_on_the_mirror_and_rematches_after_a_sync(database, settings, products: Snapshot) -> None:
    empty = _ordonnance(name="before")
    runner.analyze_document(empty)  # no mirror, no GraphQL source: pending
    assert Document.get_by_id(empty).analysis["bdpm_status"] == "pending"

    first = _publish(database, products)
    box = next(p for p in products.records("CIS_CIP_bdpm.txt") if p.cis == "60234100")
    doc = _ordonnance(ORDO + f"Boîte {box.cip13}\n", name="with-box")
    analysis = runner.analyze_document(doc)
    assert analysis["bdpm_status"] == "done" and analysis["bdpm_version"] == first
    meds = {m["name"]["value"]: m["bdpm"] for m in analysis["fields"]["medications"]}
    xanax = meds["XANAX"]
    assert xanax["status"] == "matched" and xanax["cis"] == "69847791"
    assert xanax["denomination"] == "XANAX 0,25 mg, comprimé sécable" and xanax["form"] == "comprimé sécable"
    assert xanax["routes"] == ["orale"] and xanax["prescription_conditions"]
    assert meds["AMOXICILLINE"]["generic_group"]["type"] == 0
    assert meds["DOLIPRANE"]["cis"] == "60234100"
    assert meds["DOLIPRANE"]["presentation"]["cip13"] == box.cip13  # the box code on the document

    # the pending document and nothing else is stale; the backlog job re-matches it on the mirror
    assert [r.id for r in runner.select_bdpm_stale(first)] == [empty]
    ctx = JobContext("analysis_backlog", utcnow(), deadline=time.monotonic() + 120, settings=settings)
    assert backlog.run(ctx)["bdpm_rematched"] == 1
    assert Document.get_by_id(empty).analysis["fields"]["medications"][0]["bdpm"]["status"] == "matched"

    second = _publish(database, products)  # a sync that changed the data: a new version goes live
    assert {r.id for r in runner.select_bdpm_stale(second)} == {empty, doc}
    assert runner.rematch_stale(25) == 2
    assert Document.get_by_id(doc).analysis["bdpm_version"] == second
    assert list(runner.select_bdpm_stale(second)) == []


def test_cli_search_and_data_api(database, env: dict[str, str], products: Snapshot) -> None:
    empty = run_cli(env, "bdpm", "search", "Xanax 0,25 mg cp")
    assert empty.returncode == 1 and "mirror is empty" in empty.stderr
    pending = _ordonnance(name="pending")
    runner.analyze_document(pending)
    assert Document.get_by_id(pending).analysis["bdpm_status"] == "pending"
    version = _publish(database, products)
    db.close()
    again = run_cli(env, "reanalyze", "--bdpm-stale", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"selected": 1, "rematched": 1, "mirror_version": version}
    assert Document.get_by_id(pending).analysis["bdpm_status"] == "done"
    db.close()
    out = run_cli(env, "bdpm", "search", "Xanax 0,25 mg cp", "--limit", "3", "--json")
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert len(found) == 3 and found[0]["cis"] == "69847791" and found[0]["matched"] is True
    table = run_cli(env, "bdpm", "search", "AMOXICILLINE 1g")
    assert table.returncode == 0 and "CLAMOXYL" in table.stdout and "princeps" in table.stdout

    from worker.api import AsyncDataAPI, DataAPI, InvalidInput
    from worker.config import load_settings

    settings = load_settings(env)
    api = DataAPI.from_settings(settings)
    try:
        assert api.search_medicines("Doliprane 1000", 2)[0]["cis"] == "60234100"
        with pytest.raises(InvalidInput):
            api.search_medicines("x", 0)
    finally:
        api.close()

    async def main() -> str:
        aapi = AsyncDataAPI.from_settings(settings)
        try:
            return (await aapi.search_medicines("xanax 0,25mg"))[0]["cis"]
        finally:
            await aapi.close()

    assert asyncio.run(main()) == "69847791"


def test_index_is_rebuilt_only_when_the_version_moves(database, products: Snapshot) -> None:
    first = _publish(database, products)
    a = lookup.index_for(database, first)
    assert lookup.index_for(database, first) is a
    second = _publish(database, products)
    assert lookup.current_index(database) == (second, lookup.index_for(database, second))
    assert lookup.index_for(database, second) is not a


def test_eval_lines_are_stored(tmp_path: Path) -> None:
    lines = load_lines()
    kinds = {x["kind"] for x in lines}
    assert kinds == {"corpus", "brand", "dci", "negative"}
    assert all(x["acceptable"] for x in lines if x["kind"] != "negative")
