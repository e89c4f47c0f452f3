"""Models on both backends: aware UTC timestamps, JSON columns, indexed JSON-path queries."""

import datetime as dt

import pytest
import time_machine

from models import ApiCache, CarePathway, Document, PathwayDecision, QuerySession, User, is_postgres, json_text

UTC = dt.timezone.utc


def _plan(database, query) -> str:
    sql, params = query.sql()
    if is_postgres(database):
        database.execute_sql("SET enable_seqscan = off")  # tiny tables: ask whether an index CAN serve
        rows = database.execute_sql("EXPLAIN " + sql, params).fetchall()
        database.execute_sql("SET enable_seqscan = on")
    else:
        rows = database.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return " ".join(str(r[-1]) for r in rows)


def test_timestamps_are_aware_utc_and_naive_is_refused(database):
    with time_machine.travel(dt.datetime(2026, 3, 29, 0, 30, tzinfo=UTC), tick=False):
        user = User.create(user_id="u1")
    again = User.get_by_id(user.id)
    assert again.created_at == dt.datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert again.created_at.utcoffset() == dt.timedelta(0)
    paris = dt.timezone(dt.timedelta(hours=2))
    user.updated_at = dt.datetime(2026, 3, 29, 4, 0, tzinfo=paris)
    user.save()
    assert User.get_by_id(user.id).updated_at == dt.datetime(2026, 3, 29, 2, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        User.create(user_id="u2", created_at=dt.datetime(2026, 1, 1))


def test_time_comparisons_are_correct_across_offsets(database):
    base = dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    for i, hours in enumerate((-1, 1, 3)):
        ApiCache.create(
            source="bdpm", endpoint="medicament", params_hash=f"h{i}", fresh_until=base + dt.timedelta(hours=hours)
        )
    # 13:30 in Paris (UTC+2) is 11:30 UTC: only the entry fresh until 11:00 UTC is expired.
    paris_now = dt.datetime(2026, 6, 1, 13, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    expired = ApiCache.select().where(ApiCache.fresh_until < paris_now)
    assert [e.params_hash for e in expired] == ["h0"]


def test_json_columns_round_trip_and_cascade(database):
    user = User.create(user_id="u1", profile={"mutuelle": "MGEN", "preferences": {"lang": "fr"}, "tags": [1, 2]})
    QuerySession.create(user=user, query_text="remboursement lunettes", intent="reimbursement", result={"rate": 0.6})
    pathway = CarePathway.create(user=user, condition="diabete_t2", pathway={"steps": ["a", "b"]})
    PathwayDecision.create(pathway=pathway, step="a", decision={"accepted": True})
    Document.create(
        user=user, original_filename="o.json", sha256="0" * 64, format="json", analysis={"document_type": "ordonnance"}
    )
    assert User.get_by_id(user.id).profile["preferences"] == {"lang": "fr"}
    user.delete_instance()
    for model in (QuerySession, CarePathway, PathwayDecision, Document):
        assert model.select().count() == 0, model


@pytest.mark.parametrize(
    "field, keys, value",
    [
        ("profile", ("mutuelle",), "MGEN"),
        ("profile", ("pathology",), "asthme"),
        ("analysis", ("document_type",), "ordonnance"),
    ],
)
def test_json_path_queries_use_an_index(database, field, keys, value):
    for i in range(50):
        user = User.create(
            user_id=f"u{i}",
            profile={
                "mutuelle": "MGEN" if i % 10 == 0 else "Harmonie",
                "pathology": "asthme" if i % 7 == 0 else "aucune",
            },
        )
        Document.create(
            user=user,
            original_filename=f"{i}.txt",
            sha256=f"{i:064d}",
            format="text",
            analysis={"document_type": "ordonnance" if i % 5 == 0 else "compte_rendu"},
        )
    model = User if field == "profile" else Document
    query = model.select().where(json_text(getattr(model, field), *keys) == value)
    expected = {"MGEN": 5, "asthme": 8, "ordonnance": 10}[value]
    assert query.count() == expected
    plan = _plan(database, query)
    index = f"{model._meta.table_name}_{field}_{'_'.join(keys)}"
    assert index in plan, plan
