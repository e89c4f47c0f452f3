"""Re-mask NIRs in rows stored before the one detector (issue 15): layouts and fields the old one missed.

Every text and JSON column that can hold what a user or a document said goes through :mod:`models.nir` (the
detector ingestion and the data API use): documents' file name, text, pages, meta and analysis; profiles (keys
too); queries and their results; pathways, their conditions, decisions and steps. JSON is re-encoded only for
rows that change. The detector lives in ``models/`` so that this migration needs nothing from ``worker/``.

Large tables: rows are read in primary-key order, ``BATCH`` at a time, and each batch is its own write
transaction (``atomic = False`` below; SQLite ``BEGIN IMMEDIATE``, PostgreSQL ``FOR UPDATE``), so no lock is held
long and a concurrent writer never loses an update. Idempotent: masking a masked text changes nothing, so an
interrupted run simply starts again (the runner records the migration only once it has finished). ``down()``
restores nothing: a masked number cannot be unmasked, by design.
"""

import json

from models.base import is_postgres
from models.nir import mask_text, scrub

atomic = False
BATCH = 200
TEXT, JSON, META = "text", "json", "meta"  # META: JSON whose numbers are ours (sizes, inode, mtime)
COLUMNS = {
    "documents": (("original_filename", TEXT), ("text", TEXT), ("pages", JSON), ("meta", META), ("analysis", JSON)),
    "users": (("profile", JSON),),
    "sessions": (("query_text", TEXT), ("result", JSON)),
    "care_pathways": (("condition", TEXT), ("pathway", JSON)),
    "pathway_decisions": (("step", TEXT), ("decision", JSON)),
}


def _masked(kind, value):
    """The masked value to write, or None when it is unchanged (or NULL)."""
    if value is None:
        return None
    if kind == TEXT:
        masked = mask_text(value)
        return masked if masked != value else None
    decoded = json.loads(value)
    masked = scrub(decoded, numbers=kind != META)
    return json.dumps(masked, ensure_ascii=False, separators=(",", ":"), sort_keys=True) if masked != decoded else None


def remask_table(db, table, columns, batch=BATCH):
    """Mask ``columns`` of every row of ``table``, ``batch`` rows per transaction; returns the rows changed."""
    pg = is_postgres(db)
    p = db.param
    read = ", ".join(f'"{c}"::text' if pg and kind != TEXT else f'"{c}"' for c, kind in columns)
    select = f'SELECT id, {read} FROM "{table}" WHERE id > {p} ORDER BY id LIMIT {p}' + (" FOR UPDATE" if pg else "")
    last, changed = 0, 0
    while True:
        with db.atomic():
            rows = db.execute_sql(select, (last, batch)).fetchall()
            for row in rows:
                sets, params = [], []
                for (column, kind), value in zip(columns, row[1:]):
                    masked = _masked(kind, value)
                    if masked is not None:
                        cast = (f"CAST({p} AS jsonb)" if pg else f"json({p})") if kind != TEXT else p
                        sets.append(f'"{column}" = {cast}')
                        params.append(masked)
                if sets:
                    db.execute_sql(f'UPDATE "{table}" SET {", ".join(sets)} WHERE id = {p}', (*params, row[0]))
                    changed += 1
        if len(rows) < batch:
            return changed
        last = rows[-1][0]


def up(migrator, db):
    for table, columns in COLUMNS.items():
        remask_table(db, table, columns)


def down(migrator, db):
    pass  # nothing to restore: masking is one-way
