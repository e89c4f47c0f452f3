"""Inbox files as queue arguments: opaque keys, never their names (which carry user ids and patients' names).

An ``ingest_files`` task carries, for each file, an opaque key (:func:`worker.userkeys.opaque_key`, 32 hex
characters: 8 of an HMAC of its top-level folder's name, 24 of an HMAC of its path relative to the inbox). The
consumer walks the folders named by those keys and takes the files whose key is asked for, remembering what it
saw for the backlog's next tasks: the inbox stays the ledger (a file gone meanwhile was ingested or erased;
nothing to do), and the queue database never holds a user id or a file name. Tasks enqueued by an older
version carry absolute paths (:mod:`worker.ingest.paths`): still honoured.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence

from worker import userkeys
from worker.config import Settings
from worker.filenames import ref
from worker.ingest.paths import decode_paths
from worker.ingest.scan import IgnoreRules

log = logging.getLogger("mediflux.ingest")
_FOLDER = 8  # hex characters naming the file's top-level folder (its user's), so a task walks that folder only
_FILE = 24
_LENGTH = _FOLDER + _FILE
_CACHE_MAX = 200_000
_seen: dict[str, str] = {}  # key -> path found by an earlier walk in this process (a backlog's later tasks)


def _relative(settings: Settings, path: str) -> str | None:
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(settings.inbox))
    if relative == os.curdir or relative.split(os.sep)[0] == os.pardir:
        return None
    return relative


def _folder_key(settings: Settings, top: str) -> str:
    return userkeys.opaque_key(settings, "inbox-folder", os.fsencode(top))[:_FOLDER]


def _key(settings: Settings, relative: str, folder_key: str) -> str:
    return folder_key + userkeys.opaque_key(settings, "inbox-file", os.fsencode(relative))[:_FILE]


def _top(relative: str) -> str:
    return relative.split(os.sep, 1)[0] if os.sep in relative else ""


def key_of(settings: Settings, path: str) -> str | None:
    """The opaque key of an inbox file (None for a path outside the inbox)."""
    relative = _relative(settings, path)
    if relative is None:
        return None
    return _key(settings, relative, _folder_key(settings, _top(relative)))


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


def _remember(key: str, path: str) -> None:
    if len(_seen) >= _CACHE_MAX:
        _seen.clear()
    _seen[key] = path


def _walk_folders(settings: Settings, folders: set[str]) -> None:
    """Walk the top-level folders (and root files) whose folder key is asked for, remembering every file's key."""
    rules = IgnoreRules(settings.watch_ignore)
    root = str(settings.inbox)
    prefix = root.rstrip(os.sep) + os.sep
    root_key = _folder_key(settings, "")
    with os.scandir(root) as listing:
        tops = list(listing)
    for top in tops:
        try:
            is_dir = top.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if not is_dir:
            if root_key in folders and not rules.ignored_file(top.name):
                _remember(_key(settings, top.name, root_key), top.path)
            continue
        if rules.ignored_folder(top.name):
            continue
        folder_key = _folder_key(settings, top.name)
        if folder_key not in folders:
            continue
        for path in _files_under(top.path, rules):
            _remember(_key(settings, path[len(prefix) :], folder_key), path)


def _files_under(folder: str, rules: IgnoreRules) -> Iterator[str]:
    """Every non-folder path under ``folder``, links not followed, ignored folders skipped. File names are not
    matched against the ignore rules: a key names a file that was not ignored when it was enqueued."""
    stack = [folder]
    while stack:
        try:
            with os.scandir(stack.pop()) as listing:
                entries = list(listing)
        except OSError:
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if not is_dir:
                yield entry.path
            elif not rules.ignored_folder(entry.name):
                stack.append(entry.path)


def paths_of(settings: Settings, values: Sequence[str]) -> list[str]:
    """The inbox files a task's arguments name, in their order (keys found in the folders they name; older
    tasks' paths decoded). Files no longer there are simply not returned."""
    legacy = [v for v in values if not _is_key(v)]
    keys = [v for v in values if _is_key(v)]

    def known() -> dict[str, str]:
        return {k: p for k in keys if (p := _seen.get(k)) is not None and os.path.lexists(p)}

    found = known()
    missing = {k[:_FOLDER] for k in keys if k not in found}
    if missing:
        try:
            _walk_folders(settings, missing)
        except OSError as exc:
            log.warning("cannot list the inbox: %s (left for inbox_rescan)", type(exc).__name__)
        found = known()
    return [found[k] for k in dict.fromkeys(keys) if k in found] + decode_paths(legacy)
