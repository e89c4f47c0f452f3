"""Error text that is safe to log or store: no row values, no content, no names."""

from __future__ import annotations


def safe_error(exc: BaseException) -> str:
    """Exception type and first line only: database drivers put row values in later lines."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__
