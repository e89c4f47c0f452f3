"""File names can carry patients' names: how one appears in a log line and in stored text.

Ingestion, the watcher and quarantine name a file in logs by :func:`ref` only; a name kept as text (a quarantine
sidecar's ``original_name``, a document's inbox path) goes through :func:`printable`. Top level so that
``worker.quarantine`` can use them without importing the ingestion package.
"""

from __future__ import annotations

import hashlib
import os


def printable(name: str) -> str:
    """A name safe to store as UTF-8 text: undecodable bytes become U+FFFD."""
    return os.fsencode(name).decode("utf-8", "replace")


def ref(path: str) -> str:
    """Short stable reference for logs (a hash of the path, never the name)."""
    return "file#" + hashlib.sha256(os.fsencode(path)).hexdigest()[:10]
