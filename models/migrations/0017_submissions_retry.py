"""A rejected submission leaves the idempotency index, so the same bytes can be submitted again.

0012's partial unique index on (user_id, sha256) for the app's submissions kept a rejected receipt as the answer
to every later submit of the same bytes, even when the patient was told "try again later" (a lost file, an OCR
time-out). The index now covers only submissions not rejected; ``submit_document`` still answers with the
rejection when its reason is permanent (a malformed file stays malformed).
"""

INDEX = "submissions_app_user_sha256"


def _create(db, where):
    db.execute_sql(f"DROP INDEX IF EXISTS {INDEX}")
    db.execute_sql(f"CREATE UNIQUE INDEX {INDEX} ON submissions (user_id, sha256) WHERE {where}")


def up(migrator, db):
    _create(db, "origin = 'app' AND state <> 'rejected'")


def down(migrator, db):
    _create(db, "origin = 'app'")  # fails while the same bytes were submitted again after a rejection
