"""Webhooks through a real huey_consumer: a SIGKILL mid-delivery neither loses it nor repeats it beyond
at-least-once, and every attempt carries the same ``webhook-id``."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import threading

import pytest
from standardwebhooks.webhooks import Webhook

from models import WebhookDelivery, db
from tests.conftest import ROOT, procfile_command, wait_for
from tests.webhook_receiver import Receiver
from worker.config import load_settings
from worker.queue import build_huey, read_counts
from worker.webhooks.outbox import enqueue

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def _start(env, home, name):
    log = open(home / f"{name}.log", "w")  # noqa: SIM115 — closed by the caller after the process ends
    return subprocess.Popen(procfile_command("worker"), env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), log


@pytest.fixture
def queue(env, queue_url):
    yield queue_url
    if queue_url.startswith("redis"):
        import redis

        conn = redis.Redis.from_url(queue_url)
        for key in conn.scan_iter(f"huey.*{env['MEDIFLUX_QUEUE_NAME']}*"):
            conn.delete(key)


def test_a_delivery_survives_a_sigkill_of_the_consumer_and_is_sent_again_under_its_id(database, env, home, queue):
    release = threading.Event()
    with Receiver(("hold", release), 200) as receiver:
        consumer_env = env | {
            "MEDIFLUX_QUEUE_URL": queue,
            "MEDIFLUX_WEBHOOK_URL": receiver.url,
            "MEDIFLUX_WEBHOOK_SECRET": SECRET,
            "MEDIFLUX_WEBHOOK_ALLOW_PRIVATE": "1",
            "MEDIFLUX_WEBHOOK_TIMEOUT": "5",
        }
        with db.atomic():
            delivery_id = enqueue(db.obj, "sub-kill", "analysed", None, 1, enabled=True)
        # No trigger: the consumer's start-up rediscovery finds the committed row (as after a lost task).
        first, log1 = _start(consumer_env, home, "consumer1")
        try:
            wait_for(lambda: len(receiver.requests) == 1, timeout=60, message="the first attempt to arrive")
            first.send_signal(signal.SIGKILL)  # mid-request: the outcome is never recorded
            first.wait(timeout=10)
        finally:
            release.set()
            log1.close()
        row = WebhookDelivery.get_by_id(delivery_id)
        assert row.status == "pending" and row.attempts == 0 and row.claimed_until is not None
        second, log2 = _start(consumer_env, home, "consumer2")
        try:
            wait_for(
                lambda: WebhookDelivery.get_by_id(delivery_id).status == "delivered",
                timeout=120,  # the start-up scan does it in ~10 s; the minute job is the safety net
                message="the delivery to be sent again after the claim expired",
            )
            huey = build_huey(load_settings(consumer_env))

            def queue_drained() -> bool:
                counts = read_counts(huey)
                return counts.pending == 0 and counts.scheduled == 0

            wait_for(queue_drained, timeout=60, message="every duplicate trigger to run")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=40)
            log2.close()
    row = WebhookDelivery.get_by_id(delivery_id)
    assert len(receiver.requests) == 2, (home / "consumer2.log").read_text()
    assert {r.headers["webhook-id"] for r in receiver.requests} == {row.message_id}
    assert row.attempts == 1 and row.last_status == 200
    for request in receiver.requests:
        Webhook(SECRET).verify(request.body, request.headers)


def test_each_final_state_of_a_submission_is_announced_end_to_end(database, env, home):
    """submit_document → watcher → consumer → the receiver gets ``submission.analysed`` / ``.rejected``."""
    from tests.test_ingest_processes import Proc
    from worker.api import DataAPI

    with Receiver(200) as receiver:
        proc_env = env | {
            "MEDIFLUX_WATCH_RESCAN_SECONDS": "2",
            "MEDIFLUX_INGEST_GRACE_SECONDS": "1",
            "MEDIFLUX_WEBHOOK_URL": receiver.url,
            "MEDIFLUX_WEBHOOK_SECRET": SECRET,
            "MEDIFLUX_WEBHOOK_ALLOW_PRIVATE": "1",
        }
        api = DataAPI.from_settings(load_settings(proc_env))
        worker, watcher = Proc("worker", proc_env, home), Proc("watcher", proc_env, home)
        worker.start()
        watcher.start()
        try:
            page = {"text": "Ordonnance du 12/03/2026\nDOLIPRANE 1000 mg comprimé\n1 comprimé le soir\n"}
            good = api.submit_document(
                "u-hook", json.dumps({"schema": "mediflux.ocr/1", "pages": [page]}).encode(), "o.json"
            )
            bad = api.submit_document("u-hook", b"{not json", "secret-name.json")
            wait_for(lambda: len(receiver.requests) >= 2, timeout=90, message="both webhooks")
        finally:
            watcher.term()
            worker.term()
            api.close()
    events = {}
    for request in receiver.requests:
        event = Webhook(SECRET).verify(request.body, request.headers)
        events[event["data"]["submission_id"]] = event
        assert b"secret-name" not in request.body and b"u-hook" not in request.body and b"DOLIPRANE" not in request.body
    assert events[good.id]["type"] == "submission.analysed" and events[good.id]["data"]["document_id"]
    assert events[bad.id]["type"] == "submission.rejected" and events[bad.id]["data"]["reason"]
    assert len(receiver.requests) == 2
