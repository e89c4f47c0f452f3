"""Inbox files as queue arguments: opaque keys, never their names (which carry user ids and patients' names).

An ``ingest_files`` task carries, for each file, an HMAC of its path relative to the inbox
(:func:`worker.userkeys.opaque_key`, 32 hex characters). The consumer walks the inbox and takes the files whose
key is asked for: the inbox stays the ledger (a file gone meanwhile was ingested or erased; nothing to do), and
the queue database never holds a file name. Tasks enqueued by an older version carry absolute paths
(:mod:`worker.ingest.paths`): still honoured.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence

from worker import userkeys
from worker.config import Settings
from worker.filenames import ref
from worker.ingest.paths import decode_paths
from worker.ingest.scan import IgnoreRules, walk

log = logging.getLogger("mediflux.ingest")
_LENGTH = 32


def _relative(settings: Settings, path: str) -> str | None:
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(settings.inbox))
    if relative == os.curdir or relative.split(os.sep)[0] == os.pardir:
        return None
    return relative


def key_of(settings: Settings, path: str) -> str | None:
    """The opaque key of an inbox file (None for a path outside the inbox)."""
    relative = _relative(settings, path)
    if relative is None:
        return None
    return userkeys.opaque_key(settings, "inbox-file", os.fsencode(relative))[:_LENGTH]


def keys_of(settings: Settings, paths: Iterable[str]) -> list[str]:
    """Keys of inbox files, in order; a path outside the inbox is left out (logged: nothing would find it)."""
    out = []
    for path in paths:
        key = key_of(settings, path)
        if key is None:
            log.warning("not enqueued (outside the inbox): %s", ref(path))
        else:
            out.append(key)
    return out


def _is_key(value: str) -> bool:
    return len(value) == _LENGTH and all(c in "0123456789abcdef" for c in value)


def paths_of(settings: Settings, values: Sequence[str]) -> list[str]:
    """The inbox files a task's arguments name, in their order (keys found by walking the inbox; older tasks'
    paths decoded). Files no longer there are simply not returned."""
    legacy = [v for v in values if not _is_key(v)]
    wanted = {v: i for i, v in enumerate(values) if _is_key(v)}
    found: dict[int, str] = {}
    if wanted:
        try:
            for entry in walk(settings.inbox, IgnoreRules(settings.watch_ignore)):
                index = wanted.get(key_of(settings, entry.path) or "")
                if index is not None:
                    found[index] = entry.path
                    if len(found) == len(wanted):
                        break
        except OSError as exc:
            log.warning("cannot list the inbox: %s (left for inbox_rescan)", type(exc).__name__)
    return [found[i] for i in sorted(found)] + decode_paths(legacy)
