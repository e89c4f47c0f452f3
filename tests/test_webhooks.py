"""Webhooks: settings, Standard Webhooks signatures, the outbox, and delivery against a real receiver on 127.0.0.1
(failing, timing out, slow, dripping, redirecting, answering 410), with time moved by time-machine."""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import json
import time

import pytest
import time_machine
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from models import WebhookDelivery, db
from models.clock import utcnow
from tests.recording import RecordingTriggers
from tests.webhook_receiver import Receiver
from worker import opstate
from worker.config import ConfigError, load_settings
from worker.webhooks import backoff, deliver
from worker.webhooks.outbox import NotFinal, enqueue

KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()


@pytest.fixture
def hooks(settings, database):
    """Settings for delivering to a receiver on 127.0.0.1 (private targets allowed), 1 s per attempt."""

    def at(url: str, **changes):
        values = {
            "webhook_url": url,
            "webhook_secret": KEY,
            "webhook_allow_private": True,
            "webhook_timeout": 1.0,
            **changes,
        }
        return dataclasses.replace(settings, **values)

    return at


def _one(submission="sub-1", state="analysed", reason=None, document_id=7) -> int:
    with db.atomic():
        delivery_id = enqueue(db.obj, submission, state, reason, document_id, enabled=True)
    assert delivery_id is not None
    return delivery_id


def _row(delivery_id: int) -> WebhookDelivery:
    return WebhookDelivery.get_by_id(delivery_id)


# -- settings ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"MEDIFLUX_WEBHOOK_URL": "ftp://example.org/x", "MEDIFLUX_WEBHOOK_SECRET": SECRET}, "MEDIFLUX_WEBHOOK_URL"),
        ({"MEDIFLUX_WEBHOOK_URL": "http://example.org/x", "MEDIFLUX_WEBHOOK_SECRET": SECRET}, "MEDIFLUX_WEBHOOK_URL"),
        ({"MEDIFLUX_WEBHOOK_URL": "https://10.0.0.8/x", "MEDIFLUX_WEBHOOK_SECRET": SECRET}, "MEDIFLUX_WEBHOOK_URL"),
        ({"MEDIFLUX_WEBHOOK_URL": "https://127.0.0.1/x", "MEDIFLUX_WEBHOOK_SECRET": SECRET}, "MEDIFLUX_WEBHOOK_URL"),
        (
            {"MEDIFLUX_WEBHOOK_URL": "https://u:pw@example.org/", "MEDIFLUX_WEBHOOK_SECRET": SECRET},
            "MEDIFLUX_WEBHOOK_URL",
        ),
        ({"MEDIFLUX_WEBHOOK_URL": "https://example.org/x"}, "MEDIFLUX_WEBHOOK_SECRET"),
        (
            {"MEDIFLUX_WEBHOOK_URL": "https://example.org/x", "MEDIFLUX_WEBHOOK_SECRET": "whsec_%%%"},
            "MEDIFLUX_WEBHOOK_SECRET",
        ),
        ({"MEDIFLUX_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"short").decode()}, "MEDIFLUX_WEBHOOK_SECRET"),
        (
            {
                "MEDIFLUX_WEBHOOK_URL": "http://10.1.2.3/",
                "MEDIFLUX_WEBHOOK_SECRET": SECRET,
                "MEDIFLUX_WEBHOOK_ALLOW_PRIVATE": "1",
            },
            "MEDIFLUX_WEBHOOK_URL",
        ),  # http: loopback only
    ],
)
def test_a_bad_webhook_setting_is_one_line_naming_the_variable(env, variable):
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert caught.value.variable == variable and message.startswith(variable) and "\n" not in message
    assert "pw" not in message and "%%%" not in message


def test_good_webhook_settings_decode_the_whsec_secret():
    s = load_settings({"MEDIFLUX_WEBHOOK_URL": "https://hooks.example.org/m", "MEDIFLUX_WEBHOOK_SECRET": SECRET})
    assert s.webhook_secret == KEY and not s.webhook_allow_private and SECRET not in repr(s)
    local = load_settings(
        {
            "MEDIFLUX_WEBHOOK_URL": "http://127.0.0.1:9/x",
            "MEDIFLUX_WEBHOOK_SECRET": base64.b64encode(KEY).decode(),  # bare base64 is accepted too
            "MEDIFLUX_WEBHOOK_ALLOW_PRIVATE": "1",
        }
    )
    assert local.webhook_secret == KEY and load_settings({}).webhook_url == ""


# -- outbox -------------------------------------------------------------------------------------------------------


def test_enqueue_writes_in_the_callers_transaction_once_per_state(database):
    with pytest.raises(RuntimeError), db.atomic():
        enqueue(db.obj, "sub-r", "rejected", "unreadable", None, enabled=True)
        raise RuntimeError("the state change fails")
    assert WebhookDelivery.select().count() == 0  # rolled back with it
    first = _one("sub-1", "analysed")
    with db.atomic():
        assert enqueue(db.obj, "sub-1", "analysed", None, 7, enabled=True) is None  # a re-run writes nothing
        assert enqueue(db.obj, "sub-2", "analysed", None, 8, enabled=False) is None
    with pytest.raises(NotFinal):
        enqueue(db.obj, "sub-1", "ocr", None, None, enabled=True)
    assert [r.id for r in WebhookDelivery.select()] == [first]


# -- delivery -----------------------------------------------------------------------------------------------------


def test_a_delivery_verifies_with_the_standardwebhooks_library(hooks):
    delivery_id = _one("sub-42", "rejected", "unsupported_format", None)
    with Receiver(200) as receiver:
        outcome = deliver.attempt(hooks(receiver.url), delivery_id)
    assert outcome.status == "delivered" and _row(delivery_id).status == "delivered"
    (request,) = receiver.requests
    assert request.path == "/hooks/mediflux" and request.headers["content-type"] == "application/json"
    verified = Webhook(SECRET).verify(request.body, request.headers)
    assert verified["type"] == "submission.rejected"
    assert verified["data"] == {
        "submission_id": "sub-42",
        "state": "rejected",
        "reason": "unsupported_format",
        "document_id": None,
    }
    assert set(json.loads(request.body)) == {"type", "timestamp", "data"}
    assert request.headers["webhook-id"] == _row(delivery_id).message_id
    with pytest.raises(WebhookVerificationError):  # a wrong secret does not verify
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(request.body, request.headers)


def test_a_failure_is_retried_within_5s_under_the_same_id_then_delivered(hooks):
    delivery_id = _one()
    with Receiver(500, 200) as receiver:
        settings = hooks(receiver.url)
        first = deliver.attempt(settings, delivery_id)
        assert first.status == "pending" and first.http_status == 500 and 0 <= first.retry_in <= 5
        row = _row(delivery_id)
        assert row.last_error == "http_500" and row.next_attempt_at > row.last_attempt_at
        if row.next_attempt_at > utcnow():
            assert deliver.attempt(settings, delivery_id).status == "skipped"  # not due yet: not sent
        with time_machine.travel(row.next_attempt_at + _dt.timedelta(milliseconds=1), tick=True):
            assert deliver.attempt(settings, delivery_id).status == "delivered"
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 2 and ids == {row.message_id}
    for request in receiver.requests:
        Webhook(SECRET).verify(request.body, request.headers)


def test_410_gives_up_at_once(hooks):
    delivery_id = _one()
    with Receiver(410) as receiver:
        outcome = deliver.attempt(hooks(receiver.url), delivery_id)
        assert outcome.status == "failed" and outcome.retry_in is None
        with time_machine.travel(utcnow() + _dt.timedelta(hours=1)):
            assert deliver.attempt(hooks(receiver.url), delivery_id).status == "skipped"
    assert len(receiver.requests) == 1 and _row(delivery_id).last_status == 410
    assert opstate.webhook_deliveries()["failed_last_24h"] == 1


def test_a_receiver_that_does_not_answer_in_time_is_a_timeout(hooks):
    delivery_id = _one()
    with Receiver(("slow", 4, 200)) as receiver:
        t0 = time.monotonic()
        outcome = deliver.attempt(hooks(receiver.url, webhook_timeout=0.5), delivery_id)
        elapsed = time.monotonic() - t0
    assert outcome.status == "pending" and outcome.error == "timeout" and elapsed < 2.5


def test_a_slow_answer_within_the_timeout_is_delivered(hooks):
    delivery_id = _one()
    with Receiver(("slow", 0.4, 204)) as receiver:
        assert deliver.attempt(hooks(receiver.url, webhook_timeout=3.0), delivery_id).status == "delivered"


def test_a_dripping_or_huge_answer_is_cut_off(hooks):
    dripping, huge = _one("sub-1"), _one("sub-2")
    with Receiver(("drip", 0.05), "big") as receiver:
        t0 = time.monotonic()
        assert deliver.attempt(hooks(receiver.url, webhook_timeout=1.0), dripping).status == "delivered"
        assert time.monotonic() - t0 < 3.0  # the whole attempt's deadline, not 100 000 × 50 ms
        assert deliver.attempt(hooks(receiver.url), huge).status == "delivered"


def test_a_status_line_trickled_byte_by_byte_hits_the_whole_attempts_deadline(hooks):
    delivery_id = _one()
    with Receiver(("trickle", 0.3)) as receiver:  # each byte well within the read timeout, 12 s in all
        t0 = time.monotonic()
        outcome = deliver.attempt(hooks(receiver.url, webhook_timeout=1.0), delivery_id)
        elapsed = time.monotonic() - t0
    assert outcome.error == "timeout" and elapsed < 2.0


def test_a_redirect_is_not_followed(hooks):
    delivery_id = _one()
    with Receiver(302) as receiver:
        outcome = deliver.attempt(hooks(receiver.url), delivery_id)
    assert outcome.status == "pending" and outcome.error == "redirect_refused" and len(receiver.requests) == 1


def test_a_name_resolving_to_loopback_is_refused_at_connect_time(hooks):
    """``localhost`` passes the start-time check (it is a name); its address is refused when connecting."""
    delivery_id = _one()
    with Receiver(200) as receiver:
        port = receiver.server.server_address[1]
        outcome = deliver.attempt(hooks(f"https://localhost:{port}/x", webhook_allow_private=False), delivery_id)
    assert outcome.error == "refused_address" and receiver.requests == []


def test_backoff_over_a_day_grows_with_full_jitter_capped_then_gives_up(hooks):
    delivery_id = _one()
    created = _row(delivery_id).created_at
    delays = []
    with Receiver(500) as receiver:
        settings = hooks(receiver.url)
        outcome = deliver.attempt(settings, delivery_id)
        while outcome.status == "pending":
            delays.append(outcome.retry_in)
            with time_machine.travel(_row(delivery_id).next_attempt_at + _dt.timedelta(milliseconds=1)):
                outcome = deliver.attempt(settings, delivery_id)
    row = _row(delivery_id)
    assert outcome.status == "failed" and row.status == "failed"
    assert delays[0] <= backoff.FIRST and max(delays) <= backoff.CAP
    assert row.finished_at - created >= backoff.GIVE_UP_AFTER
    assert row.finished_at - created <= backoff.GIVE_UP_AFTER + _dt.timedelta(seconds=backoff.CAP + 5)
    assert len(receiver.requests) == row.attempts and 150 < row.attempts < 1000  # ~86400 / (600/2) + ramp
    assert sum(delays[-50:]) / 50 > backoff.CAP / 4  # late delays drawn under the cap, not the first ceiling
    with time_machine.travel(row.finished_at + _dt.timedelta(minutes=1)):
        state = opstate.webhook_deliveries()
    assert state["failed"] == 1 and state["failed_last_24h"] == 1 and state["last_failure"]["error"] == "http_500"


def test_rediscovery_triggers_due_and_claimed_rows_and_gives_up_old_ones(hooks, settings):
    due, claimed, old = _one("a"), _one("b"), _one("c")
    now = utcnow()
    WebhookDelivery.update(claimed_until=now + _dt.timedelta(seconds=20)).where(WebhookDelivery.id == claimed).execute()
    WebhookDelivery.update(created_at=now - _dt.timedelta(days=2)).where(WebhookDelivery.id == old).execute()
    triggers = RecordingTriggers()
    summary = deliver.rediscover(hooks("https://hooks.example.org/x"), triggers, now)
    assert summary == {"triggered": 2, "given_up": 1}
    delays = dict(triggers.webhooks)
    assert delays[due] == 0 and 20 <= delays[claimed] <= 21 and _row(old).status == "failed"
    off = RecordingTriggers()
    assert deliver.rediscover(settings, off, now)["triggered"] == 0 and off.webhooks == []


def test_two_senders_attempt_one_delivery_once(hooks):
    delivery_id = _one()
    now = utcnow()
    lease = deliver.claim_lease(hooks("https://x.example.org/"))
    assert deliver.claim(delivery_id, now, lease) is True
    assert deliver.claim(delivery_id, now, lease) is False
    assert deliver.claim(delivery_id, now + lease + _dt.timedelta(seconds=1), lease) is True  # after a crash
