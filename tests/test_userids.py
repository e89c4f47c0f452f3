"""One user id rule (worker.userids): every consumer gives the same answer for the same id.

Each id of the table goes, in order, through the data API (real SQLite DataAPI), ingestion (a real inbox folder
named like it, and a canonical JSON file carrying it, both through ``ingest_batch``), retention (``export_user``,
``erase_user``) and the CLI (``mediflux erase-user`` as a subprocess). An accepted id lives its whole life: the
API creates the user, ingestion attaches documents to it, export finds it, erasure removes it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from models import Document, User
from tests.conftest import run_cli
from tests.ingest_fixtures import one_per_format, variant
from worker.api import DataAPI, InvalidInput
from worker.ingest.batch import ingest_batch
from worker.quarantine import entries, purge
from worker.retention import erase, export
from worker.userids import InvalidUserId, is_valid_user_id, validate_user_id

CASES = [
    ("patient:42", True),
    ("u+tag@x.org", True),
    ("u-42", True),
    ("x" * 128, True),
    ("dave\n", False),
    ("dave ", False),
    (" dave", False),
    (".hidden", False),
    ("a/b", False),
    ("a\\b", False),
    ("..", False),
    ("é", False),
    ("x" * 129, False),
    ("u\x00x", False),
    ("", False),
    (None, False),
    (42, False),
]


@pytest.fixture
def database_url(home: Path) -> str:
    """SQLite only: the rule does not depend on the backend (overrides the conftest's parametrised fixture)."""
    return f"sqlite:///{home / 'mediflux.db'}"


def _not_echoed(value: object, text: str) -> None:
    """The id is personal data: no message repeats it (ids too short to tell apart are not checked)."""
    if isinstance(value, str) and len(value.strip()) >= 3:
        assert value.strip() not in text, text


def _data_api(api: DataAPI, value: object) -> bool:
    try:
        created = api.create_profile(value, {"mutuelle": "MGEN"})  # type: ignore[arg-type]
    except InvalidInput as exc:
        assert exc.field == "user_id"
        _not_echoed(value, str(exc))
        return False
    assert created.user_id == value and api.get_profile(value).user_id == value  # type: ignore[arg-type]
    return True


def _ingested(settings, path: str, value: object, refusal: str) -> bool:
    report = ingest_batch([path], settings)
    if report.stored:
        (document,) = Document.select().where(Document.id == report.stored[0])
        assert document.user is not None and document.user.user_id == value
        return True
    assert report.quarantined == 1, report.summary()
    (entry,) = entries(settings.home)
    assert entry.sidecar["reason"] == refusal
    _not_echoed(value, entry.sidecar["message"])
    purge(settings.home)
    return False


def _ingest_folder(settings, value: str, n: int) -> bool:
    folder = os.path.join(os.fsencode(settings.inbox), os.fsencode(value))
    os.makedirs(folder)
    path = os.fsdecode(os.path.join(folder, b"scan.txt"))
    Path(path).write_bytes(variant(one_per_format()[".txt"], n))
    return _ingested(settings, path, value, "invalid_user_folder")


def _ingest_json(settings, value: object, n: int) -> bool:
    doc = json.loads(variant(one_per_format()[".json"], n))
    doc["user_id"] = value
    path = settings.inbox / "scan.json"
    path.write_text(json.dumps(doc))
    return _ingested(settings, str(path), value, "invalid_canonical_json")


def _retention(settings, value: object) -> dict[str, bool]:
    answers = {}
    try:
        data = export.export_user(settings, value)  # type: ignore[arg-type]
        assert data["user_id"] == value and data["found"] and data["documents"], data.keys()
        answers["export_user"] = True
    except InvalidUserId as exc:
        _not_echoed(value, str(exc))
        answers["export_user"] = False
    try:
        assert erase.erase_user(settings, value).state == "done"  # type: ignore[arg-type]
        assert not User.select().where(User.user_id == value).exists()
        assert not (settings.inbox / value).exists()  # type: ignore[operator]
        answers["erase_user"] = True
    except InvalidUserId as exc:
        _not_echoed(value, str(exc))
        answers["erase_user"] = False
    return answers


def _cli_erase(env: dict[str, str], value: str) -> bool:
    out = run_cli(env, "erase-user", value)
    if out.returncode == 0:
        return True
    assert out.returncode == 2 and "Invalid value for 'USER_ID'" in out.stderr, out.stderr
    _not_echoed(value, out.stdout + out.stderr)
    return False


@pytest.mark.parametrize("value, expected", CASES, ids=[repr(v)[:16] for v, _ in CASES])
def test_every_consumer_gives_the_same_answer(database, settings, env, value, expected):
    s = dataclasses.replace(settings, ingest_grace_seconds=0.0)
    answers = {"is_valid_user_id": is_valid_user_id(value)}
    api = DataAPI.from_settings(s)
    try:
        answers["data API"] = _data_api(api, value)
    finally:
        api.close()
    if isinstance(value, str) and value not in ("", "..") and "/" not in value and "\x00" not in value:
        answers["inbox folder"] = _ingest_folder(s, value, 1)  # other ids cannot be one folder name on Linux
    if value is not None:  # "user_id": null means "no user id", like a missing key
        answers["canonical JSON user_id"] = _ingest_json(s, value, 2)
    answers |= _retention(s, value)
    if isinstance(value, str) and "\x00" not in value:  # argv is text, without NUL
        answers["mediflux erase-user"] = _cli_erase(env, value)
    assert {consumer: answer for consumer, answer in answers.items() if answer != expected} == {}, answers


@pytest.mark.parametrize("value, expected", CASES, ids=[repr(v)[:16] for v, _ in CASES])
def test_validate_user_id_returns_the_id_or_raises_without_echoing_it(value, expected):
    if expected:
        assert validate_user_id(value) == value
        return
    with pytest.raises(InvalidUserId) as info:
        validate_user_id(value)
    assert isinstance(info.value, ValueError) and "ASCII letters, digits" in str(info.value)
    _not_echoed(value, str(info.value))


def test_export_user_and_ingest_user_cli_apply_the_rule(database, env, settings, tmp_path):
    scan = tmp_path / "scan.txt"
    scan.write_bytes(variant(one_per_format()[".txt"], 3))
    for args in (["export-user", "dave\n"], ["ingest", "--now", "--user", "dave\n", str(scan)]):
        out = run_cli(env, *args)
        assert out.returncode == 2 and "Invalid value" in out.stderr and "dave" not in out.stderr, out.stderr
        assert [line for line in out.stderr.splitlines() if line.startswith("Error:")] == [
            "Error: Invalid value for " + ("'USER_ID'" if args[0] == "export-user" else "'--user'") + ": a user id is "
            "1-128 ASCII letters, digits or . _ : @ + - (starting with a letter or digit)"
        ]
    api = DataAPI.from_settings(settings)
    api.create_profile("patient:42", {})
    api.close()
    assert json.loads(run_cli(env, "export-user", "patient:42").stdout)["found"] is True
    out = run_cli(
        env | {"MEDIFLUX_INGEST_GRACE_SECONDS": "0"}, "ingest", "--now", "--user", "patient:42", "--json", str(scan)
    )
    assert out.returncode == 0 and json.loads(out.stdout)["stored"] == 1, out.stderr
    (document,) = Document.select()
    assert document.user.user_id == "patient:42"  # copied into inbox/patient:42/, not quarantined
