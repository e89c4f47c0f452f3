"""Who owns an inbox file: one rule for documents and quarantine sidecars (docs/ingestion.md, "Who owns a document").

The user folder is the boundary the app controls: a file in ``inbox/<user_id>/`` belongs to that user, whatever
it says about itself. A canonical JSON ``user_id`` is honoured only for files directly in the inbox (no folder
user); one naming another user than its folder is refused (``user_mismatch``), never stored under that other
user. A file refused before it is read (too large, a link, a FIFO, unreadable…) has no content to consult: its
owner is its folder's user, so its quarantine sidecar names the user and erasure and export find it.
"""

from __future__ import annotations

import os
from pathlib import Path

from worker.ingest.files import Refused, user_of


def owner_of(folder_user: str | None, document_user: str | None) -> str | None:
    """The owner of a read file: its folder's user, else the document's own ``user_id``, else None.

    Raises Refused(``user_mismatch``) when the document names another user than its folder.
    """
    if folder_user is None:
        return document_user
    if document_user is not None and document_user != folder_user:
        raise Refused("user_mismatch", "the document's user_id names another user than its user folder")
    return folder_user


def folder_user(path: str, inbox: Path) -> str | None:
    """The user folder's id for an inbox ``path`` that was not read (None at the root, outside, or not an id).

    Lexical only: the file was refused, never opened, so this only labels its sidecar.
    """
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(inbox))
    if relative == os.curdir or relative.split(os.sep)[0] == os.pardir:
        return None
    try:
        return user_of(relative)
    except Refused:  # not a user id (invalid_user_folder): nobody to name
        return None
