"""Webhook deliveries under retention and erasure, and their writing from the submissions ledger."""

from __future__ import annotations

import dataclasses
import datetime as _dt

import pytest

from models import Submission, WebhookDelivery, db
from models.clock import utcnow
from tests.recording import RecordingTriggers
from worker.retention import erase, prune
from worker.submissions import ledger
from worker.triggers import NO_QUEUE
from worker.webhooks import outbox


def _submission(user_id: str, state: str = "rejected") -> str:
    sid = ledger.new_id()
    now = utcnow()
    Submission.insert(id=sid, user_id=user_id, state=state, created_at=now, updated_at=now, finished_at=now).execute()
    with db.atomic():
        assert outbox.enqueue(db.obj, sid, state, "unreadable", None, enabled=True) is not None
    return sid


def test_erasure_deletes_the_users_deliveries_only(database, settings):
    mine, theirs = _submission("u-erase"), _submission("u-keep")
    result = erase.erase_user(settings, "u-erase")
    assert result.counts["webhook_deliveries"] == 1
    assert [d.submission_id for d in WebhookDelivery.select()] == [theirs]
    assert not WebhookDelivery.select().where(WebhookDelivery.submission_id == mine).exists()


def test_prune_removes_finished_deliveries_past_their_policy(database, settings):
    old, recent, pending = _submission("u-1"), _submission("u-2"), _submission("u-3")
    now = utcnow()
    WebhookDelivery.update(status="delivered", finished_at=now - _dt.timedelta(days=31)).where(
        WebhookDelivery.submission_id == old
    ).execute()
    WebhookDelivery.update(status="failed", finished_at=now - _dt.timedelta(days=2)).where(
        WebhookDelivery.submission_id == recent
    ).execute()
    (result,) = prune.prune(settings, now, categories=("webhooks",))
    assert result.rows == 1 and result.cutoff == now - _dt.timedelta(days=settings.retention.webhooks)
    assert {d.submission_id for d in WebhookDelivery.select()} == {recent, pending}


@pytest.fixture
def announcing(settings):
    triggers = RecordingTriggers()
    outbox.configure(dataclasses.replace(settings, webhook_url="https://hooks.example.org/m"), triggers)
    yield triggers
    outbox.configure(settings, NO_QUEUE)


def test_a_rejection_recorded_by_the_ledger_is_announced_in_its_transaction(database, announcing):
    ledger.record_rejected("u-9/scan.bin", "u-9", "ab" * 32, 10, "unsupported_format")
    (sub,) = Submission.select()
    (row,) = WebhookDelivery.select()
    assert row.submission_id == sub.id and row.event == "rejected" and "scan.bin" not in row.body
    assert "u-9" not in row.body and announcing.webhooks == [(row.id, outbox.FIRST_ATTEMPT_DELAY)]


def test_nothing_is_written_when_webhooks_are_off(database, settings):
    outbox.configure(settings, NO_QUEUE)
    ledger.record_rejected("u-9/scan.bin", "u-9", "ab" * 32, 10, "unsupported_format")
    assert Submission.select().count() == 1 and WebhookDelivery.select().count() == 0
