"""Webhooks: the ``webhook_deliveries`` outbox (one row per final state announced, its attempts and outcome).

The model here is a frozen copy of models.webhooks.WebhookDelivery at this migration.
"""

import peewee
from peewee import CharField, IntegerField, TextField

from models.base import UTCDateTimeField


def _model(db):
    class WebhookDelivery(peewee.Model):
        message_id = CharField(max_length=64, unique=True)
        submission_id = CharField(max_length=64)
        event = CharField(max_length=32)
        body = TextField()
        status = CharField(max_length=16, default="pending")
        attempts = IntegerField(default=0)
        created_at = UTCDateTimeField()
        next_attempt_at = UTCDateTimeField()
        claimed_until = UTCDateTimeField(null=True)
        last_attempt_at = UTCDateTimeField(null=True)
        last_status = IntegerField(null=True)
        last_error = CharField(max_length=64, null=True)
        finished_at = UTCDateTimeField(null=True)

        class Meta:
            database = db
            table_name = "webhook_deliveries"
            indexes = (
                (("submission_id", "event"), True),
                (("status", "next_attempt_at"), False),
                (("finished_at",), False),
            )

    return WebhookDelivery


def up(migrator, db):
    db.create_tables([_model(db)], safe=True)


def down(migrator, db):
    db.drop_tables([_model(db)], safe=True)
