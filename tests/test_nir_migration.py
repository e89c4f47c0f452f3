"""Migration 0007 re-masks NIRs already stored (every column it lists), in batches, idempotently, on both backends."""

from __future__ import annotations

import importlib.util
import json

from models import migrator
from models.database import open_database
from models.nir import find_nirs
from tests.conftest import ROOT

NIR = "185037512345641"
MASKED = "1 85 03 ** *** *** **"
ROWS = 7


def _migration():
    spec = importlib.util.spec_from_file_location("remask", ROOT / "models" / "migrations" / "0007_remask_nir.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _seed(database, pg: bool) -> None:
    """Rows as the old detector let them through (plain SQL: the schema of 0006)."""
    stamp = "'2026-01-02 03:04:05+00'" if pg else "'2026-01-02 03:04:05'"
    as_json = "CAST({} AS jsonb)" if pg else "json({})"
    p = database.param

    def insert(table, values):
        columns = ", ".join(f'"{c}"' for c in values)
        marks = ", ".join(as_json.format(p) if isinstance(v, (dict, list)) else p for v in values.values())
        params = [json.dumps(v) if isinstance(v, (dict, list)) else v for v in values.values()]
        database.execute_sql(f'INSERT INTO "{table}" ({columns}, created_at) VALUES ({marks}, {stamp})', params)

    for i in range(ROWS):
        database.execute_sql(
            f"INSERT INTO users (user_id, profile, legal_hold, created_at, updated_at) VALUES ({p}, "
            f"{as_json.format(p)}, false, {stamp}, {stamp})",
            (f"u-{i}", json.dumps({NIR: {"secu": "1  85  03  75  123  456  41", "n": 185037512345641}})),
        )
        uid = database.execute_sql("SELECT id FROM users WHERE user_id = " + p, (f"u-{i}",)).fetchone()[0]
        insert(
            "documents",
            {
                "user_id": uid,
                "original_filename": f"DUPONT {NIR}.txt",
                "sha256": f"{i:064d}",
                "format": "text",
                "pages": [{"number": 1, "text": "N° 1 85 03 75 123 456\n41", "words": 7}],
                "text": "N° 1 85 03 75 123 456\n41",
                "meta": {"inbox_path": f"u-{i}/DUPONT {NIR}.txt", "engine": {"name": "N° SS : 1 85 03 75 123 456"}},
                "analysis": {"fields": {"name": {"value": f"MOREL {NIR}"}}},
                "status": "ingested",
            },
        )
        insert("sessions", {"user_id": uid, "query_text": "pour 1\t85\t03\t75\t123\t456\t41", "result": {"x": NIR}})
        insert("care_pathways", {"user_id": uid, "condition": f"asthme {NIR}", "pathway": {"steps": [f"s {NIR}"]}})
        pid = database.execute_sql("SELECT MAX(id) FROM care_pathways").fetchone()[0]
        database.execute_sql(
            f"INSERT INTO pathway_decisions (pathway_id, step, decision, decided_at) VALUES ({p}, {p}, "
            f"{as_json.format(p)}, {stamp})",
            (pid, f"s {NIR}", json.dumps({"by": "1 85 03 75 123 456 (41)"})),
        )
    database.execute_sql(
        "INSERT INTO users (user_id, profile, legal_hold, created_at, updated_at) "
        f"VALUES ('u-clean', {as_json.format(p)}, false, {stamp}, {stamp})",
        (json.dumps({"mutuelle": "MGEN", "rpps": "10003456789", "tel": "01 23 45 67 89"}),),
    )


def _dump(database) -> str:
    out = []
    for table, columns in _migration().COLUMNS.items():
        names = ", ".join(f'"{c}"' for c, _ in columns)
        out += [repr(r) for r in database.execute_sql(f'SELECT {names} FROM "{table}" ORDER BY id').fetchall()]
    return "\n".join(out)


def test_0007_remasks_every_column_in_batches_and_is_idempotent(settings, home):
    home.mkdir(parents=True, exist_ok=True)
    database = open_database(settings.database_url)
    pg = settings.database_url.startswith("postgres")
    assert migrator.upgrade(database, target="0006_owner_sha256")[-1] == "0006_owner_sha256"
    _seed(database, pg)
    assert NIR in _dump(database)
    assert "0007_remask_nir" in migrator.upgrade(database, target="0007_remask_nir")
    after = _dump(database)
    assert NIR not in after and "123 456" not in after and "123\t456" not in after
    for line in after.splitlines():
        assert not find_nirs(line), line
    assert after.count(MASKED) >= ROWS * 9
    assert "10003456789" in after and "01 23 45 67 89" in after  # other numbers untouched
    from models import User

    assert User.get(User.user_id == "u-0").profile == {MASKED: {"secu": MASKED, "n": MASKED}}

    module = _migration()
    for table, columns in module.COLUMNS.items():  # again, in batches of 2: nothing left to change
        assert module.remask_table(database, table, columns, batch=2) == 0
    assert _dump(database) == after


def test_0007_batches_cover_every_row(settings, home):
    home.mkdir(parents=True, exist_ok=True)
    database = open_database(settings.database_url)
    assert migrator.upgrade(database, target="0006_owner_sha256")[-1] == "0006_owner_sha256"
    _seed(database, settings.database_url.startswith("postgres"))
    module = _migration()
    assert module.remask_table(database, "documents", module.COLUMNS["documents"], batch=3) == ROWS
    assert module.remask_table(database, "users", module.COLUMNS["users"], batch=2) == ROWS  # u-clean unchanged
    assert module.remask_table(database, "documents", module.COLUMNS["documents"], batch=3) == 0


def test_0007_keeps_the_numbers_of_meta(settings, home):
    """An inode or mtime is ours, never a NIR: meta's numbers stay numbers (the recovery pass compares them)."""
    home.mkdir(parents=True, exist_ok=True)
    database = open_database(settings.database_url)
    pg = settings.database_url.startswith("postgres")
    assert migrator.upgrade(database, target="0006_owner_sha256")[-1] == "0006_owner_sha256"
    meta = json.dumps({"inbox_inode": 1850375123456, "engine": {"name": NIR}})
    stamp = "'2026-01-02 03:04:05+00'" if pg else "'2026-01-02 03:04:05'"
    cast = f"CAST({database.param} AS jsonb)" if pg else f"json({database.param})"
    database.execute_sql(
        "INSERT INTO documents (original_filename, sha256, format, pages, text, meta, status, created_at) "
        f"VALUES ('a.txt', 'abc', 'text', '[]', '', {cast}, 'ingested', {stamp})",
        (meta,),
    )
    migrator.upgrade(database, target="0007_remask_nir")
    from models import Document

    assert Document.get(Document.sha256 == "abc").meta == {"inbox_inode": 1850375123456, "engine": {"name": MASKED}}


def test_0014_masks_a_number_split_over_a_page_break_in_pages_and_text(settings, home):
    home.mkdir(parents=True, exist_ok=True)
    database = open_database(settings.database_url)
    pg = settings.database_url.startswith("postgres")
    assert migrator.upgrade(database, target="0013_webhook_deliveries")[-1] == "0013_webhook_deliveries"
    stamp = "'2026-01-02 03:04:05+00'" if pg else "'2026-01-02 03:04:05'"
    cast = f"CAST({database.param} AS jsonb)" if pg else f"json({database.param})"
    pages = [
        {"number": 1, "text": "Attestation\nN° SS : 1 85 03 75 123", "words": 7},
        {"number": 2, "text": "456 41\nDOLIPRANE", "words": 3},
        {"number": 3, "text": "RPPS 10003456789", "words": 2},
    ]
    one_page = [{"number": 1, "text": "tél. 01 23 45 67 89", "words": 6}]
    for sha, stored in (("split", pages), ("single", one_page)):
        database.execute_sql(
            "INSERT INTO documents (original_filename, sha256, format, pages, text, meta, status, created_at) "
            f"VALUES ('a.json', {database.param}, 'json', {cast}, {database.param}, '{{}}', 'ingested', {stamp})",
            (sha, json.dumps(stored), "\n\n".join(p["text"] for p in stored)),
        )
    assert "0014_remask_page_breaks" in migrator.upgrade(database)
    from models import Document

    doc = Document.get(Document.sha256 == "split")
    assert [p["text"] for p in doc.pages] == [f"Attestation\nN° SS : {MASKED}", "\nDOLIPRANE", "RPPS 10003456789"]
    assert [p["words"] for p in doc.pages] == [7, 3, 2]  # the rest of each page as it was
    assert "75 123" not in doc.text and "456 41" not in doc.text and MASKED in doc.text
    assert Document.get(Document.sha256 == "single").pages == one_page  # nothing to change
    before = [(d.pages, d.text) for d in Document.select().order_by(Document.id)]
    module_path = ROOT / "models" / "migrations" / "0014_remask_page_breaks.py"
    spec = importlib.util.spec_from_file_location("remask14", module_path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.up(None, database)  # again: nothing left to change
    assert [(d.pages, d.text) for d in Document.select().order_by(Document.id)] == before
