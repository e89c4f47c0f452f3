"""A reference app: a small FastAPI service on mediflux's async data API (see README.md here)."""
