"""Re-mask NIRs split over a page break in documents stored before ingestion joined the pages to look for them.

Such a number is in no page alone (10 digits at the end of one page, 5 at the start of the next), so neither
0007 nor the per-page masking caught it, and each page kept its half in clear. Pages go through
:func:`models.nir.mask_across` (the rule ingestion now applies), the document's text through the detector. Same
batching, locking and idempotence as 0007 (``atomic = False``: one write transaction per batch); ``down()``
restores nothing.
"""

import json

from models.base import is_postgres
from models.nir import mask_across, mask_text

atomic = False
BATCH = 200
SEPARATOR = "\n\n"  # worker.ingest.parsed.PAGE_SEPARATOR, as stored


def _pages(value):
    """The masked pages JSON to write, or None when nothing changes."""
    if value is None:
        return None
    pages = json.loads(value)
    if not isinstance(pages, list) or len(pages) < 2 or not all(isinstance(p, dict) for p in pages):
        return None
    texts = [p.get("text") if isinstance(p.get("text"), str) else "" for p in pages]
    masked, found = mask_across(texts, SEPARATOR)
    if not found:
        return None
    for page, text in zip(pages, masked):
        if isinstance(page.get("text"), str):
            page["text"] = text
    return json.dumps(pages, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def up(migrator, db):
    pg = is_postgres(db)
    p = db.param
    select = (
        f"SELECT id, {'pages::text' if pg else 'pages'}, text FROM documents WHERE id > {p} ORDER BY id LIMIT {p}"
        + (" FOR UPDATE" if pg else "")
    )
    cast = f"CAST({p} AS jsonb)" if pg else f"json({p})"
    last = 0
    while True:
        with db.atomic():
            rows = db.execute_sql(select, (last, BATCH)).fetchall()
            for row_id, pages, text in rows:
                new_pages = _pages(pages)
                new_text = mask_text(text) if text else text
                if new_pages is not None or new_text != text:
                    db.execute_sql(
                        f"UPDATE documents SET pages = {cast if new_pages is not None else 'pages'}, text = {p} "
                        f"WHERE id = {p}",
                        ((new_pages,) if new_pages is not None else ()) + (new_text, row_id),
                    )
        if len(rows) < BATCH:
            return
        last = rows[-1][0]


def down(migrator, db):
    pass  # nothing to restore: masking is one-way
