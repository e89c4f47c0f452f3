"""Numbered schema migrations, applied in order by models.migrator (playhouse.migrations)."""
