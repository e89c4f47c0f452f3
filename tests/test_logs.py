"""Logs carry short ids (sha256 prefixes) and never personal data, in human and JSON formats."""

from __future__ import annotations

import io
import json
import logging

import pytest

from models import Document, User
from tests.conftest import run_cli
from worker.analysis import runner
from worker.config import load_settings
from worker.logsetup import build_handler, short_id

NAME = "Marcelline Quentadour"
NIR = "2 84 05 75 123 456 72"
TEXTS = [
    f"ORDONNANCE\nDr Paul Ternandier\nPatient : {NAME}\nNé le 12/05/1984\nN° SS : {NIR}\n"
    "DOLIPRANE 1000 mg, 1 comprimé 3 fois par jour pendant 5 jours\nAsthme sévère",
    f"CARTE DE TIERS PAYANT\nMutuelle MGEN\nBénéficiaire : {NAME}\nNIR {NIR.replace(' ', '')}\n",
]
PII = (NAME, "Quentadour", "Marcelline", "Ternandier", NIR, NIR.replace(" ", ""), "Asthme", "12/05/1984")


def _documents() -> list[Document]:
    user = User.create(user_id="u-77", profile={"name": NAME, "pathology": "asthme"})
    docs = [
        Document.create(
            user=user,
            original_filename=f"{NAME} ordonnance {i}.txt",
            sha256=f"{i + 1:x}" * 64,
            format="txt",
            text=text,
            pages=[{"number": 1, "text": text}],
        )
        for i, text in enumerate(TEXTS)
    ]
    # A third whose medication lookup fails with personal data in the exception: the failure is logged too.
    docs.append(
        Document.create(
            user=user,
            original_filename=f"{NAME}.txt",
            sha256="c" * 64,
            format="txt",
            text=TEXTS[0],
            pages=[{"number": 1, "text": TEXTS[0]}],
        )
    )
    return docs


def _failing_lookup(query: str) -> list:
    raise ValueError(f"no BDPM match for {query} prescribed to {NAME}, NIR {NIR}")


@pytest.mark.parametrize("log_format", ["human", "json"])
def test_analysis_logs_short_ids_and_no_personal_data(database, env, log_format):
    settings = load_settings(env | {"MEDIFLUX_LOG_FORMAT": log_format})
    stream = io.StringIO()
    handler = build_handler(settings, stream)
    logger = logging.getLogger("mediflux")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        docs = _documents()
        results = [runner.analyze_safely(d.id) for d in docs[:2]] + [runner.analyze_safely(docs[2].id, _failing_lookup)]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert results == [True, True, False]
    text = stream.getvalue()
    lines = [line for line in text.splitlines() if "document" in line]
    assert len(lines) == 3, text
    for doc, line in zip(docs, lines):
        assert f"[{short_id(doc.sha256)}]" in line and f"document {doc.id} " in line
        if log_format == "json":
            record = json.loads(line)
            assert record["doc"] == short_id(doc.sha256) and record["ts"].endswith("Z")
    assert "failed: " in lines[2]
    for secret in PII:
        assert secret not in text, secret


def test_reanalyze_command_json_logs_are_clean(database, env):
    _documents()
    result = run_cli(env | {"MEDIFLUX_LOG_FORMAT": "json", "MEDIFLUX_LOG_LEVEL": "debug"}, "reanalyze", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["analysed"] == 3
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    docs = [r for r in records if r.get("doc")]
    assert len(docs) == 3 and {r["doc"] for r in docs} == {short_id(d.sha256) for d in Document.select()}
    for secret in PII:
        assert secret not in result.stderr + result.stdout, secret
