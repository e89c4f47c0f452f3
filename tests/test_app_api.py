"""The app data API (sync variant, pooled) on SQLite and PostgreSQL: behaviour, validation, indexes, atomicity."""

import datetime as dt
import threading

import pytest
import time_machine

from models import CarePathway, Document, PathwayDecision, QuerySession, User
from tests.test_models import _plan
from worker.api import (
    DataAPI,
    InvalidInput,
    InvalidProfile,
    PayloadTooLarge,
    UnknownPathway,
    UnknownStep,
    UnknownUser,
    UserExists,
    as_json,
)
from worker.appdata.profiles import search_query
from worker.config import ConfigError, load_settings

UTC = dt.timezone.utc
NIR = "1 85 03 75 112 345 94"  # key-valid: 97 - 1850375112345 % 97 = 94


@pytest.fixture
def api(database, settings):
    api = DataAPI.from_settings(settings)
    yield api
    api.close()


def test_profile_partial_update_merges_and_keeps_other_fields(api):
    with time_machine.travel(dt.datetime(2026, 5, 1, 8, 0, tzinfo=UTC), tick=False):
        created = api.create_profile(
            "u-1",
            {
                "mutuelle": "MGEN",
                "location": {"department": "75", "city": "Paris"},
                "preferences": {"lang": "fr", "sms": True},
            },
        )
    with time_machine.travel(dt.datetime(2026, 5, 2, 8, 0, tzinfo=UTC), tick=False):
        updated = api.update_profile(
            "u-1", {"pathology": "asthme", "location": {"postcode": "75011"}, "preferences": {"sms": None}}
        )
    expected = {
        "mutuelle": "MGEN",
        "pathology": "asthme",
        "preferences": {"lang": "fr"},
        "location": {"department": "75", "city": "Paris", "postcode": "75011"},
    }
    assert updated.profile == expected
    read = api.get_profile("u-1")
    assert read.profile == expected
    assert read.created_at == created.created_at == dt.datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    assert read.updated_at == dt.datetime(2026, 5, 2, 8, 0, tzinfo=UTC)
    assert as_json(read)["updated_at"] == "2026-05-02T08:00:00+00:00"
    with pytest.raises(UserExists):
        api.create_profile("u-1", {})


@pytest.mark.parametrize(
    "profile, error, field",
    [
        ("not an object", InvalidProfile, "profile"),
        ({"mutuelle": 42}, InvalidProfile, "profile.mutuelle"),
        ({"location": {"postcode": "7501"}}, InvalidProfile, "profile.location.postcode"),
        ({"location": {"department": "999"}}, InvalidProfile, "profile.location.department"),
        ({"location": {"planet": "mars"}}, InvalidProfile, "profile.location"),
        ({"notes": {"secu": f"mon numéro {NIR}"}}, InvalidProfile, "profile.notes.secu"),
        ({"score": float("nan")}, InvalidProfile, "profile.score"),
        ({"blob": "x" * 70_000}, PayloadTooLarge, "profile"),
    ],
)
def test_malformed_or_oversized_profile_is_refused_and_nothing_is_written(api, profile, error, field):
    with pytest.raises(error) as exc:
        api.create_profile("u-bad", profile)
    assert exc.value.field == field
    assert "1 85 03" not in str(exc.value) and "7501" not in str(exc.value)  # field names, never values
    assert User.select().count() == 0
    api.create_profile("u-ok", {"mutuelle": "MGEN"})
    with pytest.raises(error):
        api.update_profile("u-ok", profile if isinstance(profile, dict) else {"mutuelle": ["x"]})
    assert api.get_profile("u-ok").profile == {"mutuelle": "MGEN"}


def test_json_size_limit_is_a_setting(env, database):
    small = DataAPI.from_settings(load_settings(env | {"MEDIFLUX_API_MAX_JSON_KB": "1"}))
    small.create_profile("u-1", {})
    with pytest.raises(PayloadTooLarge) as exc:
        small.log_query("u-1", "question", "faq", {"answer": "é" * 600})
    assert exc.value.limit == 1024 and exc.value.size > 1024
    assert QuerySession.select().count() == 0
    small.close()


@pytest.mark.parametrize(
    "variable, value",
    [("DB_POOL_SIZE", "0"), ("DB_POOL_TIMEOUT", "soon"), ("DB_POOL_RECYCLE", "-1"), ("API_MAX_JSON_KB", "1e3")],
)
def test_bad_pool_and_limit_settings_name_the_variable(variable, value, tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_settings({"MEDIFLUX_HOME": str(tmp_path), f"MEDIFLUX_{variable}": value})
    assert str(exc.value).startswith(f"MEDIFLUX_{variable}: ") and "\n" not in str(exc.value)


def test_unknown_user_is_a_typed_error_everywhere_and_writes_nothing(api):
    now = dt.datetime.now(UTC)
    calls = [
        lambda: api.get_profile("ghost"),
        lambda: api.update_profile("ghost", {"mutuelle": "MGEN"}),
        lambda: api.log_query("ghost", "q"),
        lambda: api.recent_queries("ghost"),
        lambda: api.store_pathway("ghost", "asthme", {"steps": ["a"]}),
        lambda: api.record_decision("ghost", 1, "a", {}),
        lambda: api.list_pathways("ghost"),
        lambda: api.list_documents("ghost"),
    ]
    for call in calls:
        with pytest.raises(UnknownUser) as exc:
            call()
        assert exc.value.user_id == "ghost" and "ghost" not in str(exc.value)
    for model in (User, QuerySession, CarePathway, PathwayDecision):
        assert model.select().count() == 0
    assert api.count_by_intent(now - dt.timedelta(days=1), now) == {}
    with pytest.raises(InvalidInput):
        api.get_profile("has space")


@pytest.mark.parametrize(
    "criteria, expected",
    [
        ({"mutuelle": "MGEN"}, 5),
        ({"pathology": "asthme"}, 8),
        ({"department": "69"}, 10),
        ({"postcode": "69003"}, 10),
        ({"pathology": "asthme", "department": "69"}, 2),
    ],
)
def test_find_users_by_json_fields_uses_the_indexes(api, database, criteria, expected):
    for i in range(50):
        api.create_profile(
            f"u{i}",
            {
                "mutuelle": "MGEN" if i % 10 == 0 else "Harmonie",
                "pathology": "asthme" if i % 7 == 0 else "aucune",
                "location": {
                    "department": "69" if i % 5 == 0 else "75",
                    "postcode": "69003" if i % 5 == 0 else "75011",
                },
            },
        )
    found = api.find_users(**criteria)
    assert len(found) == expected
    assert all(all(p.profile.get(k, p.profile["location"].get(k)) == v for k, v in criteria.items()) for p in found)
    plan = _plan(database, search_query(**criteria))
    first = next(iter(criteria))
    path = {"department": "location_department", "postcode": "location_postcode"}.get(first, first)
    assert "users_profile_" in plan, plan
    if len(criteria) == 1:
        assert f"users_profile_{path}" in plan, plan
    with pytest.raises(InvalidInput):
        api.find_users()


def test_sessions_history_and_counts_by_intent(api):
    api.create_profile("u-1", {})
    api.create_profile("u-2", {})
    base = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for i, (user, intent) in enumerate(
        [
            ("u-1", "reimbursement"),
            ("u-1", "pharmacy"),
            ("u-2", "reimbursement"),
            ("u-1", None),
            ("u-2", "reimbursement"),
        ]
    ):
        with time_machine.travel(base + dt.timedelta(hours=i), tick=False):
            api.log_query(user, f"question {i}", intent, {"rank": i})
    history = api.recent_queries("u-1", limit=2)
    assert [q.text for q in history] == ["question 3", "question 1"]
    assert history[1].result == {"rank": 1} and history[1].intent == "pharmacy"
    since = api.recent_queries("u-1", since=base + dt.timedelta(minutes=30))
    assert [q.text for q in since] == ["question 3", "question 1"]
    assert api.count_by_intent(base, base + dt.timedelta(hours=5)) == {"reimbursement": 3, "pharmacy": 1, None: 1}
    assert api.count_by_intent(base + dt.timedelta(hours=1), base + dt.timedelta(hours=3)) == {
        "pharmacy": 1,
        "reimbursement": 1,
    }
    with pytest.raises(InvalidInput):
        api.count_by_intent(base, base)
    with pytest.raises(InvalidInput):
        api.count_by_intent(dt.datetime(2026, 1, 1), base)


def test_query_text_is_stored_with_nirs_masked(api, database):
    api.create_profile("u-1", {})
    record = api.log_query("u-1", f"remboursement pour {NIR} ?", "reimbursement")
    assert "112 345" not in record.text and "1 85 03" in record.text
    stored = database.execute_sql("SELECT query_text FROM sessions").fetchall()
    assert "112 345" not in stored[0][0]
    with pytest.raises(InvalidInput):
        api.log_query("u-1", "ok", "x", {"nir": NIR})
    assert QuerySession.select().count() == 1


def test_pathway_decisions_are_recorded_per_step_and_scoped_to_the_user(api):
    api.create_profile("u-1", {})
    api.create_profile("u-2", {})
    pathway = api.store_pathway("u-1", "diabete_t2", {"steps": [{"id": "hba1c", "title": "Dosage"}, "ophtalmo"]})
    api.record_decision("u-1", pathway.id, "hba1c", {"accepted": True})
    api.record_decision("u-1", pathway.id, "ophtalmo", {"accepted": False})
    api.record_decision("u-1", pathway.id, "hba1c", {"accepted": False, "reason": "déjà fait"})
    read = api.get_pathway("u-1", pathway.id)
    assert [d.step for d in read.decisions] == ["hba1c", "ophtalmo", "hba1c"]
    assert read.latest_decisions()["hba1c"].decision == {"accepted": False, "reason": "déjà fait"}
    assert read.pathway["steps"][0]["title"] == "Dosage"
    with pytest.raises(UnknownStep):
        api.record_decision("u-1", pathway.id, "nope", {})
    with pytest.raises(UnknownPathway):
        api.get_pathway("u-2", pathway.id)
    with pytest.raises(UnknownPathway):
        api.record_decision("u-2", pathway.id, "hba1c", {})
    with pytest.raises(InvalidInput):
        api.store_pathway("u-1", "asthme", {"steps": []})
    assert PathwayDecision.select().count() == 3
    second = api.store_pathway("u-1", "asthme", {"steps": ["a"]})
    assert [p.id for p in api.list_pathways("u-1")] == [second.id, pathway.id]
    assert [p.id for p in api.list_pathways("u-1", condition="diabete_t2")] == [pathway.id]
    assert api.list_pathways("u-2") == []


def test_documents_with_analysis_filtered_by_type(api):
    api.create_profile("u-1", {})
    other = api.create_profile("u-2", {})
    owner = User.get(User.user_id == "u-1")
    for i, kind in enumerate(["ordonnance", "compte_rendu", "ordonnance", None]):
        Document.create(
            user=owner,
            original_filename=f"{i}.txt",
            sha256=f"{i:064d}",
            format="text",
            analysis={"document_type": kind, "fields": {"n": i}} if kind else None,
            created_at=dt.datetime(2026, 1, 1 + i, tzinfo=UTC),
        )
    Document.create(
        user=User.get(User.user_id == other.user_id),
        original_filename="x.txt",
        sha256="f" * 64,
        format="text",
        analysis={"document_type": "ordonnance"},
    )
    docs = api.list_documents("u-1")
    assert [d.original_filename for d in docs] == ["3.txt", "2.txt", "1.txt", "0.txt"]
    assert docs[0].analysis is None and docs[1].analysis["fields"] == {"n": 2}
    prescriptions = api.list_documents("u-1", document_type="ordonnance")
    assert [d.original_filename for d in prescriptions] == ["2.txt", "0.txt"]
    assert {d.document_type for d in prescriptions} == {"ordonnance"}


def test_concurrent_partial_updates_from_threads_lose_nothing(api):
    api.create_profile("u-1", {"mutuelle": "MGEN"})
    errors = []

    def writer(n):
        try:
            for k in range(5):
                api.update_profile("u-1", {"counters": {f"t{n}_{k}": k}})
        except Exception as exc:  # noqa: BLE001 — collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    counters = api.get_profile("u-1").profile["counters"]
    assert len(counters) == 40 and counters["t7_4"] == 4
    pool = api.backend.database
    assert len(pool._in_use) == 0 and 1 <= len(pool._connections) <= 8  # every connection went back to the pool


def test_open_api_bootstraps_and_sizes_the_pools_from_settings(env, home):
    from worker.api import open_async_api, open_api

    settings = load_settings(
        env | {"MEDIFLUX_DB_POOL_SIZE": "3", "MEDIFLUX_DB_POOL_TIMEOUT": "2.5", "MEDIFLUX_DB_POOL_RECYCLE": "60"}
    )
    api = open_api(settings)  # a fresh database: bootstrap applies the migrations first
    try:
        api.create_profile("u-1", {"location": {"postcode": "13001"}})
        assert [p.user_id for p in api.find_users(postcode="13001")] == ["u-1"]
        pool = api.backend.database
        assert (pool._max_connections, pool._wait_timeout, pool._stale_timeout) == (3, 3, 60)
    finally:
        api.close()
    async_api = open_async_api(settings)
    assert (async_api.backend.database._pool_size, async_api.backend.database._acquire_timeout) == (3, 2.5)
