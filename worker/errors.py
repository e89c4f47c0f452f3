"""Error text that is safe to log or store: no row values, no content, no names."""

from __future__ import annotations


def safe_error(exc: BaseException) -> str:
    """Exception type and first line only: database drivers put row values in later lines."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__


def error_type(text: str | None) -> str | None:
    """Only the exception type of a stored error, for operator pages: its message may quote URLs or values."""
    if not text:
        return None
    head = text.strip().split(":", 1)[0].split("(", 1)[0].strip()
    return head[:80] if head.replace(".", "").replace("_", "").isalnum() else "error"
