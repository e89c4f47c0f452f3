"""Private folders: every folder the worker creates is 0700 (its files are 0600: the database and queue files
through :func:`models.database.create_private_file`, the others through each writer's ``os.open(..., 0o600)``).

``Path.mkdir(parents=True, mode=0o700)`` applies the mode to the last level only (the parents get 0777 less the
umask, often 0755), and the umask applies to the last level too. :func:`private_dir` is the one way to create a
folder: each missing level is created 0700 and set to 0700 after creation whatever the umask; folders that
already existed are left as they are (an operator's choice). In ``models`` (the bottom layer) so that the
database files' folder uses it too; ``worker`` uses it for the data folder, the inbox and its user folders,
``processed/`` and quarantine.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create ``path`` and every missing parent as 0700 (existing ones untouched); returns ``path``."""
    missing = []
    level = Path(path)
    while not level.is_dir():
        missing.append(level)
        if level.parent == level:
            break
        level = level.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR_MODE)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue  # another process made it: its mode is its own
        os.chmod(folder, PRIVATE_DIR_MODE)  # the umask may have taken bits off
    return Path(path)
