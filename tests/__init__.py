"""mediflux-worker test suite (real SQLite files, PostgreSQL, Redis, subprocesses)."""
