"""Error text that is safe to log or store: no row values, no content, no names.

Everything an error text can carry that may name a person is taken out here, once, for every log line and
stored error (``erasure_requests.last_error``, ``periodic_jobs.last_error``, ``job_runs.error``, task errors):

- an ``OSError`` keeps its type, errno and strerror only, never its file names (paths hold user ids and
  patients' names);
- any other error keeps its type and the first line of its message (database drivers put row values in later
  lines), with quoted literals (``invalid literal for int(): 'DURAND'``, PostgreSQL's ``"…"`` values, a
  ``KeyError``'s key), URLs past their host (query strings and paths), absolute paths, e-mail-like ids and
  NIR-like digit runs replaced by ``…``.
"""

from __future__ import annotations

import re

from worker.privacy import mask_nirs

REDACTED = "…"
MAX_LENGTH = 200

_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)([^/\s'\"?#]*)[^\s'\"]*")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`")
_EMAIL = re.compile(r"[^\s'\"/]+@[^\s'\"/]+")
_PATH = re.compile(r"(?<![\w.:/])/[^\s:'\"]+")
_DIGITS = re.compile(r"\d(?:[\s.\-]?\d){10,}")  # 11 digits or more: a NIR body, a phone with its prefix


def _scrub(text: str) -> str:
    """The first line of an error message without what may name a person (see the module doc)."""
    text = _URL.sub(lambda m: m.group(1) + (m.group(2).rsplit("@", 1)[-1] or "") + "/" + REDACTED, text)
    text = _QUOTED.sub(lambda m: m.group(0)[0] + REDACTED + m.group(0)[-1], text)
    text = _EMAIL.sub(REDACTED, text)
    text = _PATH.sub(REDACTED, text)
    return _DIGITS.sub(REDACTED, mask_nirs(text)[0])


def safe_error(exc: BaseException) -> str:
    """Exception type and a message that names nobody: for an OSError errno and strerror only."""
    name = type(exc).__name__
    if isinstance(exc, OSError):
        if exc.errno is None:
            return name
        return f"{name}: [Errno {exc.errno}] {exc.strerror or ''}".rstrip()
    text = str(exc).strip()
    first = _scrub(text.splitlines()[0]) if text else ""
    return f"{name}: {first[:MAX_LENGTH]}" if first else name


def error_type(text: str | None) -> str | None:
    """Only the exception type of a stored error, for operator pages: its message may quote URLs or values."""
    if not text:
        return None
    head = text.strip().split(":", 1)[0].split("(", 1)[0].strip()
    return head[:80] if head.replace(".", "").replace("_", "").isalnum() else "error"
