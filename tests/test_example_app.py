"""The reference app (examples/fastapi_app) run by uvicorn, driven over real HTTP with httpx, with the real
consumer and watcher behind it: upload, status, and the Server-Sent Events of a submission's states."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import httpx
import pytest

from tests.conftest import ROOT, wait_for
from tests.test_ingest_processes import Proc


@pytest.fixture
def proc_env(env):
    return env | {"MEDIFLUX_WATCH_RESCAN_SECONDS": "2", "MEDIFLUX_INGEST_GRACE_SECONDS": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url(database, proc_env, home):
    port = _free_port()
    log = open(home / "uvicorn.log", "w")  # noqa: SIM115 — closed below, after the process
    argv = [sys.executable, "-m", "uvicorn", "--factory", "examples.fastapi_app.app:create_app"]
    server = subprocess.Popen(
        [*argv, "--host", "127.0.0.1", "--port", str(port)], env=proc_env, cwd=ROOT, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return server.poll() is not None  # exited: fail below instead of waiting

    try:
        wait_for(up, timeout=60, message="uvicorn to serve")
        assert server.poll() is None, (home / "uvicorn.log").read_text()
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _events(url: str) -> list[dict]:
    """Read the SSE stream to its end: the ``data`` of each ``state`` event."""
    out, event = [], {}
    with httpx.stream("GET", url, timeout=httpx.Timeout(10, read=90)) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line:
                if event.get("event") == "state":
                    out.append(json.loads(event["data"]))
                event = {}
                continue
            key, _, value = line.partition(": ")
            event[key] = value
    return out


def test_upload_status_and_server_sent_events_over_real_http(app_url, proc_env, home):
    worker, watcher = Proc("worker", proc_env, home), Proc("watcher", proc_env, home)
    worker.start()
    watcher.start()
    try:
        text = "Ordonnance du 12/03/2026\nDOLIPRANE 1000 mg comprimé\n1 comprimé matin et soir\n"
        good = json.dumps({"schema": "mediflux.ocr/1", "pages": [{"text": text}]}).encode()
        files = {"file": ("ordonnance.json", good, "application/json")}
        answer = httpx.post(f"{app_url}/users/u-app/documents", files=files, timeout=30)
        assert answer.status_code == 202, answer.text
        sub = answer.json()
        assert sub["state"] == "received" and sub["id"]
        base = f"{app_url}/users/u-app/submissions/{sub['id']}"
        assert httpx.get(base, timeout=10).json()["id"] == sub["id"]
        states = _events(base + "/events")
        assert states[-1]["state"] == "analysed" and states[-1]["document_id"]
        assert len({s["state"] for s in states}) == len(states)  # one event per state reached
        document = httpx.get(f"{app_url}/users/u-app/documents/{states[-1]['document_id']}", timeout=10)
        assert document.status_code == 200 and document.json()["id"] == states[-1]["document_id"]

        bad = httpx.post(
            f"{app_url}/users/u-app/documents", files={"file": ("x.json", b"{not json", "application/json")}, timeout=30
        ).json()
        (last,) = _events(f"{app_url}/users/u-app/submissions/{bad['id']}/events")[-1:]
        assert last["state"] == "rejected" and set(last["message"]) == {"fr", "en"} and "x.json" not in json.dumps(last)

        other = httpx.get(f"{app_url}/users/u-other/submissions/{sub['id']}", timeout=10)
        assert other.status_code == 404  # another user's submission is unknown
        assert httpx.post(f"{app_url}/users/u-app/documents", files={"file": ("e.bin", b"", "x/y")}).status_code in (
            415,
            422,  # InvalidInput, as docs/app-api.md maps it
        )
    finally:
        watcher.term()
        worker.term()
