"""User keys: the one rule for naming a user without the id (erasure records, access traces, logs).

``user_key(settings, user_id)`` is an HMAC-SHA-256 of the id under a per-deployment secret, so a key found in a
table, a log line or a backup cannot be turned back into an e-mail-like id by trying a dictionary of ids (a
plain hash of a known prefix and the id could be). The secret is 32 random bytes in ``<MEDIFLUX_HOME>/user-key.secret``
(0600), created atomically at first start (:func:`ensure_secret`, from the composition root) and never logged.

Back it up with the database: a deployment that loses it can no longer match its old erasure records and access
traces to a user id (nothing is lost from the data itself, only the link). Machines sharing one database must
share the same file (copy it before their first start).

Keys made before the secret existed (``legacy_key``: SHA-256 of ``mediflux-user:`` + id) are rewrapped under the
secret (:func:`rewrap_legacy`) so that they are no longer dictionary-recoverable either; :func:`lookup_keys`
gives every key a user's old records may carry.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path

from worker.config import Settings
from worker.fsync import sync_dir

SECRET_NAME = "user-key.secret"
_SECRET_BYTES = 32
_LEGACY_PREFIX = "mediflux-user:"
_REWRAP_PREFIX = b"legacy-sha256:"
_lock = threading.Lock()
_secrets: dict[Path, bytes] = {}


class SecretError(RuntimeError):
    """The secret file exists but is not one this worker wrote (wrong size or not a regular file)."""


def secret_path(settings: Settings) -> Path:
    return settings.home / SECRET_NAME


def _read(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with open(fd, "rb") as f:
        text = f.read(4 * _SECRET_BYTES).strip()
    try:
        raw = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raw = b""
    if len(raw) != _SECRET_BYTES:
        # Never replaced silently: a new secret would orphan every existing erasure record and access trace.
        raise SecretError(f"{SECRET_NAME} in MEDIFLUX_HOME is not a {_SECRET_BYTES}-byte hex secret; restore it")
    return raw


def _create(path: Path) -> None:
    """Write a new secret under a temporary name, fsync, then link it into place: never a half-written file,
    and of two processes starting together one wins and both read the winner's."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{SECRET_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with open(fd, "wb") as f:
            f.write(secrets.token_hex(_SECRET_BYTES).encode("ascii") + b"\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first: theirs is the secret
    finally:
        tmp.unlink(missing_ok=True)
    sync_dir(path.parent)


def ensure_secret(settings: Settings) -> bytes:
    """The deployment's secret, created (0600, atomically) when missing. Cached per data folder."""
    path = secret_path(settings)
    with _lock:
        cached = _secrets.get(path)
        if cached is not None:
            return cached
        if not os.path.lexists(path):
            _create(path)
        os.chmod(path, 0o600, follow_symlinks=False)
        value = _read(path)
        _secrets[path] = value
        return value


def _mac(settings: Settings, message: bytes) -> str:
    return hmac.new(ensure_secret(settings), message, hashlib.sha256).hexdigest()


def user_key(settings: Settings, user_id: str) -> str:
    """The user's key: 64 hex characters, the same for the same id in one deployment, useless without the secret."""
    return _mac(settings, b"user:" + user_id.encode("utf-8", "surrogatepass"))


def legacy_key(user_id: str) -> str:
    """The key erasure records had before the secret (plain SHA-256): only to find and rewrap old records."""
    return hashlib.sha256((_LEGACY_PREFIX + user_id).encode("utf-8", "surrogatepass")).hexdigest()


def rewrap_legacy(settings: Settings, old_key: str) -> str:
    """What an old record's plain SHA-256 key becomes: an HMAC of it under the secret (no longer recoverable)."""
    return _mac(settings, _REWRAP_PREFIX + old_key.encode("ascii"))


def lookup_keys(settings: Settings, user_id: str) -> tuple[str, str]:
    """Every key a record about ``user_id`` may carry: its key, and its rewrapped legacy key."""
    return user_key(settings, user_id), rewrap_legacy(settings, legacy_key(user_id))
