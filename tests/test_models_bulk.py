"""models.bulk: the hand-built multi-row INSERT stores exactly what peewee's insert_many would."""

import datetime as dt

from models import Document, User
from models.bulk import MAX_PARAMS, insert_ignore_returning

FIELDS = (
    Document.user,
    Document.original_filename,
    Document.sha256,
    Document.format,
    Document.pages,
    Document.text,
    Document.meta,
    Document.status,
    Document.created_at,
)
WHEN = dt.datetime(2026, 11, 29, 12, 30, 45, 123456, tzinfo=dt.timezone.utc)


def _row(i, user_id=None):
    return (
        user_id,
        f"scan-{i}.pdf",
        f"{i:064x}",
        "json",
        [{"number": 1, "text": f"Ordonnance n°{i} — é", "confidence": 0.915, "words": 3}],
        f"Ordonnance n°{i}",
        {"format": "json", "b": [1, 2.5, None], "a": {"z": True}},
        "ingested",
        WHEN,
    )


def test_rows_read_back_like_peewee_rows(database):
    user = User.create(user_id="u-1")
    returned = insert_ignore_returning(
        Document, FIELDS, [_row(1, user.id), _row(2)], None, (Document.id, Document.sha256)
    )
    assert sorted(sha for _, sha in returned) == [f"{1:064x}", f"{2:064x}"]
    Document.insert_many([dict(zip((f.name for f in FIELDS), _row(3, user.id)))]).execute()
    ours, peewees = Document.get(Document.sha256 == f"{1:064x}"), Document.get(Document.sha256 == f"{3:064x}")
    for name in ("pages", "meta", "status", "created_at", "format"):
        mine, theirs = getattr(ours, name), getattr(peewees, name)
        if name == "pages":
            mine, theirs = [dict(p, text="") for p in mine], [dict(p, text="") for p in theirs]
        assert mine == theirs, name
    assert ours.user_id == user.id and ours.created_at == WHEN and ours.meta["a"] == {"z": True}
    # Stored the same way too (SQLite: the same JSON text; PostgreSQL: JSONB), so JSON queries agree.
    raw = {
        d.sha256: d.meta_text for d in Document.select(Document.sha256, Document.meta.cast("text").alias("meta_text"))
    }
    assert raw[f"{1:064x}"] == raw[f"{3:064x}"]


def test_existing_keys_are_skipped_and_not_returned(database):
    insert_ignore_returning(Document, FIELDS, [_row(1)], None, (Document.id, Document.sha256))
    returned = insert_ignore_returning(Document, FIELDS, [_row(1), _row(2), _row(2)], None, (Document.sha256,))
    assert returned == [(f"{2:064x}",)]
    assert Document.select().count() == 2


def test_large_inserts_are_split_under_the_parameter_limit(database, monkeypatch):
    import models.bulk as bulk

    statements = []
    real_execute = database.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        if sql.startswith("INSERT"):
            statements.append(len(params))
        return real_execute(sql, params, *args, **kwargs)

    monkeypatch.setattr(bulk, "MAX_PARAMS", 10 * len(FIELDS))  # 10 rows per statement
    monkeypatch.setattr(database, "execute_sql", counting)
    returned = insert_ignore_returning(Document, FIELDS, [_row(i) for i in range(25)], None, (Document.id,))
    assert statements == [90, 90, 45]
    assert len({i for (i,) in returned}) == 25 == Document.select().count()
    assert MAX_PARAMS < 32_766  # SQLite's default limit on bound parameters
