"""Erasure records: ``key_scheme`` says how ``user_key`` was made.

Rows before this migration carry a plain SHA-256 of a constant prefix and the user id (``sha256``): an
e-mail-like id can be recovered from it by trying a dictionary. New rows carry an HMAC under the deployment's
secret (``hmac``). The secret lives in the data folder, which a migration does not know, so the old keys are
rewrapped under it by the worker (``worker.retention.erase.rewrap_legacy_keys``: at each erasure and by the
``erasure_backlog`` job), and looked up both ways until then.
"""

from peewee import CharField


def up(migrator, db):
    # Existing rows get the default: they were all keyed the old way.
    migrator.migrate(migrator.add_column("erasure_requests", "key_scheme", CharField(max_length=16, default="sha256")))


def down(migrator, db):
    migrator.migrate(migrator.drop_column("erasure_requests", "key_scheme"))
