"""200 coroutines of the app against one SQLite file while a real huey consumer writes to it.

The consumer (the Procfile ``worker`` line) analyses documents — each task an
UPDATE of ``documents.analysis`` — while the app's async pool logs queries, merges
profiles, stores pathways and decisions and reads. No ``database is locked`` may
reach the app, and neither side may lose a write.
"""

import asyncio
import hashlib
import signal
import subprocess
import sys
import time

import pytest

from models import CarePathway, Document, PathwayDecision, QuerySession, User
from tests.conftest import ROOT, procfile_command, wait_for
from worker.api import AsyncDataAPI, DataAPI

DOCS = 1000
USERS = [f"u{i}" for i in range(10)]
ORDO = "Dr Paul ROCHE\nRPPS 10003456786\nLe 12/03/2026\nORDONNANCE\nDOLIPRANE 500 mg comprimé\n1 cp 3 fois par jour\n"


def _analyzed() -> int:
    return Document.select().where(Document.analysis.is_null(False)).count()


async def _one(api: AsyncDataAPI, i: int) -> None:
    user = USERS[i % len(USERS)]
    kind = i % 5
    if kind == 0:
        await api.log_query(user, f"question {i}", f"intent{i % 3}", {"i": i})
    elif kind == 1:
        await api.update_profile(user, {"seen": {f"c{i}": i}})
    elif kind == 2:
        await api.get_profile(user)
        await api.recent_queries(user)
        await api.find_users(mutuelle="MGEN")
    elif kind == 3:
        pathway = await api.store_pathway(user, "asthme", {"steps": [f"s{i}"]})
        await api.record_decision(user, pathway.id, f"s{i}", {"accepted": i % 2 == 0})
    else:
        await api.list_documents("docs")
        await api.count_by_intent(*_window())


def _window():
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc)
    return now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)


async def _app_burst(api: AsyncDataAPI) -> list[BaseException]:
    try:
        results = await asyncio.gather(*(_one(api, i) for i in range(200)), return_exceptions=True)
    finally:
        await api.close()
    return [r for r in results if isinstance(r, BaseException)]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_200_coroutines_and_a_consumer_write_one_sqlite_file(database, settings, env, home):
    sync_api = DataAPI.from_settings(settings)
    for user in USERS + ["docs"]:
        sync_api.create_profile(user, {"mutuelle": "MGEN"})
    owner = User.get(User.user_id == "docs")
    rows = [
        dict(
            user=owner,
            original_filename=f"{i}.txt",
            sha256=hashlib.sha256(f"doc{i}".encode()).hexdigest(),
            format="text",
            pages=[{"number": 1, "text": ORDO}],
            text=ORDO,
        )
        for i in range(DOCS)
    ]
    Document.insert_many(rows).execute()
    ids = [d.id for d in Document.select(Document.id)]
    log = open(home / "consumer.log", "w")
    proc = subprocess.Popen(procfile_command("worker"), env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        enqueue = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, json, tasks\nids = json.loads(sys.argv[1])\ntriggers = tasks.connect().triggers\n"
                "for k in range(0, len(ids), 2): triggers.analyze(ids[k:k + 2])",
                str(ids),
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert enqueue.returncode == 0, enqueue.stderr
        wait_for(lambda: _analyzed() >= 1, timeout=30, message="the consumer to start writing")
        before = _analyzed()
        t0 = time.monotonic()
        errors = asyncio.run(_app_burst(AsyncDataAPI.from_settings(settings)))
        elapsed = time.monotonic() - t0
        after = _analyzed()
        wait_for(lambda: _analyzed() == DOCS, timeout=120, message="every document analysed")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=40)
        log.close()
        sync_api.close()
    assert errors == [], [f"{type(e).__name__}: {e}" for e in errors[:5]]
    # The consumer was writing during the burst (here typically 100-250 of the 1,000 documents in the ~1 s burst).
    assert before < DOCS and after > before, f"no consumer write overlapped the {elapsed:.2f}s burst"
    assert QuerySession.select().count() == 40
    assert CarePathway.select().count() == 40 and PathwayDecision.select().count() == 40
    seen = {}
    for user in User.select().where(User.user_id.in_(USERS)):
        seen.update(user.profile.get("seen", {}))
    assert seen == {f"c{i}": i for i in range(200) if i % 5 == 1}
    assert "database is locked" not in (home / "consumer.log").read_text()
