"""Analysis over the documents table: pending selection, versioning, failures, BDPM retry, job, task, CLI, privacy."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import time_machine

from models import Document
from models.clock import utcnow
from tests.conftest import ROOT, _clean_env, enqueue, procfile_command, run_cli, wait_for
from worker.analysis import EXTRACTOR_VERSION, backlog, runner
from worker.analysis.medications import BdpmUnavailable
from worker.periodic import JobContext
from worker.privacy import mask_nirs
from worker.schedule import PERIODIC_JOBS

CORPUS = ROOT / "tests" / "corpus" / "analysis"
ORDO = "Dr Paul ROCHE\nRPPS 10003456786\nLe 12/03/2026\nORDONNANCE\nDOLIPRANE 500 mg comprimé\n1 cp 3 fois par jour\n"
CARTE = "MGEN\nCARTE DE TIERS PAYANT\nN° AMC 12345678\nAdhérent n° 998877\nValable du 01/01/2026 au 31/12/2026\n"
DOLI = {
    "CIS": "69309629",
    "denomination": "DOLIPRANE 500 mg, comprimé",
    "forme_pharmaceutique": "comprimé",
    "substances": [{"dosage_substance": "500 mg"}],
    "presentations": [{"CIP13": "3400934998331", "libelle": "16 cp"}],
}


def _store(text: str, name: str = "x", **kw) -> int:
    masked, _ = mask_nirs(text)  # as ingestion stores it
    pages = [{"number": 1, "text": masked, "confidence": 0.9, "words": []}]
    return Document.create(
        original_filename=name,
        sha256=hashlib.sha256((name + text).encode()).hexdigest(),
        format="text",
        pages=pages,
        text=masked,
        **kw,
    ).id


def test_pending_then_stored_then_not_pending(database):
    a, b = _store(ORDO, "a"), _store(CARTE, "b")
    old = _store(ORDO, "old", analysis={"extractor_version": EXTRACTOR_VERSION - 1, "document_type": "unknown"})
    assert runner.pending_ids(10) == [a, b, old]
    assert runner.analyze_pending(10, lookup=lambda term: [DOLI]) == 3
    assert runner.pending_ids(10) == []
    doc = Document.get_by_id(a)
    assert doc.analysis["document_type"] == "ordonnance" and doc.analysis["extractor_version"] == EXTRACTOR_VERSION
    assert doc.analysis["fields"]["rpps"]["value"] == "10003456786"
    assert doc.analysis["fields"]["medications"][0]["bdpm"]["cis"] == "69309629"
    assert Document.get_by_id(b).analysis["fields"]["amc_number"]["value"] == "12345678"


def test_failure_is_recorded_and_not_retried_forever(database, monkeypatch):
    bad = _store(ORDO, "bad")

    def boom(*a, **k):
        raise RuntimeError("secret document text must not be stored")

    monkeypatch.setattr(runner, "analyze_text", boom)
    assert runner.analyze_pending(5) == 0
    analysis = Document.get_by_id(bad).analysis
    assert analysis["status"] == "failed" and analysis["error"] == "RuntimeError"
    assert "secret" not in json.dumps(analysis) and runner.pending_ids(5) == []


def test_unreachable_bdpm_is_retried_when_due(database):
    doc = _store(ORDO, "o")

    def down(term: str):
        raise BdpmUnavailable(term)

    start = _dt.datetime(2026, 3, 12, 9, 0, tzinfo=_dt.timezone.utc)
    with time_machine.travel(start, tick=False):
        runner.analyze_document(doc, lookup=down)
        assert Document.get_by_id(doc).analysis["bdpm_status"] == "pending"
        assert runner.retry_medication_matching(10, lookup=lambda t: [DOLI]) == 0  # not due yet
    with time_machine.travel(start + _dt.timedelta(minutes=16), tick=False):
        assert runner.retry_medication_matching(10, lookup=lambda t: [DOLI]) == 1
    analysis = Document.get_by_id(doc).analysis
    assert analysis["bdpm_status"] == "done" and analysis["fields"]["medications"][0]["bdpm"]["status"] == "matched"


def test_backlog_job_is_registered_and_drains(database, settings):
    ids = [_store(ORDO, f"d{i}") for i in range(30)]
    assert "analysis_backlog" in PERIODIC_JOBS
    ctx = JobContext("analysis_backlog", utcnow(), deadline=10**12, settings=settings)
    summary = backlog.run(ctx)
    assert summary["analysed"] == 30 and runner.pending_ids(50) == []
    assert all(Document.get_by_id(i).analysis["bdpm_status"] == "pending" for i in ids[:2])  # no BDPM wired


def test_reanalyze_cli_filters_and_reports(database, env):
    o = _store(ORDO, "o", analysis={"extractor_version": 0, "document_type": "ordonnance"})
    c = _store(CARTE, "c", analysis={"extractor_version": 0, "document_type": "carte_tiers_payant"})
    r = run_cli(env, "reanalyze", "--type", "ordonnance", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["analysed"] == 1
    assert Document.get_by_id(o).analysis["extractor_version"] == EXTRACTOR_VERSION
    assert Document.get_by_id(c).analysis["extractor_version"] == 0
    r = run_cli(env, "reanalyze", "--since", "2999-01-01")
    assert r.returncode == 0 and "0 analysed" in r.stdout
    r = run_cli(env, "reanalyze")
    assert r.returncode == 0 and "2 analysed" in r.stdout
    bad = run_cli(env, "reanalyze", "--since", "yesterday")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_task_runs_in_a_real_consumer(database, env):
    ids = [_store(ORDO, "t1"), _store(CARTE, "t2")]
    enqueue(env, f"analyze({ids + [999999]})")
    consumer = subprocess.Popen(
        procfile_command("worker"),
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: all(Document.get_by_id(i).analysis for i in ids), timeout=60, message="analysis by task")
    finally:
        os.killpg(consumer.pid, signal.SIGTERM)
        consumer.wait(timeout=30)
    assert Document.get_by_id(ids[1]).analysis["document_type"] == "carte_tiers_payant"


def test_no_clear_nir_in_database_wal_or_logs(home: Path, tmp_path: Path):
    """Analyse corpus documents that carry a NIR; the clear NIR must be nowhere on disk or in the logs."""

    labels = json.loads((CORPUS / "labels.json").read_text())
    chosen = [(k, v) for k, v in sorted(labels.items()) if v.get("nir") and v["format"] in ("txt", "json")][:8]
    assert len(chosen) >= 6
    env = _clean_env()
    env.update({"MEDIFLUX_HOME": str(home), "MEDIFLUX_LOG_LEVEL": "debug", "MEDIFLUX_QUEUE_NAME": "nir"})
    script = f"""
import json, sys
sys.path.insert(0, {str(ROOT / "bench")!r})
from analysis_eval import read_document
from pathlib import Path
from worker.runtime import bootstrap
from worker.privacy import mask_nirs
from worker.analysis import analyze_text, runner
from models import Document
from models.clock import utcnow
bootstrap()
for i, name in enumerate({[v["file"] for _, v in chosen]!r}):
    pages, hint = read_document(Path({str(CORPUS)!r}) / name)
    raw = analyze_text(pages, hint=hint)                     # the extractor sees the clear NIR
    masked = [dict(number=p["number"], text=mask_nirs(p["text"])[0]) for p in pages]  # words: ingestion's job
    doc = Document.create(original_filename="f%d" % i, sha256="%064d" % i, format="json", pages=masked,
                          text="", analysis=raw)
    runner.analyze_document(doc.id)                           # and the stored copy, as ingestion leaves it
print(json.dumps([Document.get_by_id(d.id).analysis["nir"]["present"] for d in Document.select()]), flush=True)
sys.stdin.readline()  # stay open (connection, WAL not yet checkpointed) while the test scans the files
"""
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first_line = proc.stdout.readline()
    files = {p.name: p.read_bytes() for p in home.iterdir() if p.name.startswith("mediflux.db")}
    out, err = proc.communicate("\n", timeout=120)
    assert proc.returncode == 0, err[-2000:]
    logs = first_line + out + err
    assert "analysed document" in logs  # the log lines really were written
    assert len(files.get("mediflux.db-wal", b"")) > 0  # the WAL was scanned while it held the writes
    blobs = [logs.encode(), *files.values(), (home / "mediflux.db").read_bytes()]
    found_masked = json.loads(first_line)
    assert sum(found_masked) >= len(chosen) - 1
    for _, truth in chosen:
        nir = truth["nir"]
        forms = {nir, f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}", nir[:13]}
        for blob in blobs:
            for form in forms:
                assert form.encode() not in blob, "clear NIR found"
