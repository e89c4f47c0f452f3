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
from typing import Any

from worker.config import ConfigError, Settings
from worker.fsync import sync_dir

SECRET_NAME = "user-key.secret"
_SECRET_BYTES = 32
_LEGACY_PREFIX = "mediflux-user:"
_REWRAP_PREFIX = b"legacy-sha256:"
_lock = threading.Lock()
_secrets: dict[Path, bytes] = {}
_bases: dict[bytes, Any] = {}  # secret -> an HMAC object keyed with it, copied for each message (cheaper than new)


class SecretError(ConfigError):
    """The secret file exists but is not one this worker wrote (wrong size or not a regular file)."""

    def __init__(self, problem: str) -> None:
        super().__init__("MEDIFLUX_HOME", problem)


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
        raise SecretError(f"{SECRET_NAME} is not a {_SECRET_BYTES}-byte hex secret; restore it from a backup")
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
    secret = _secrets.get(secret_path(settings)) or ensure_secret(settings)
    base = _bases.get(secret)
    if base is None:
        base = _bases.setdefault(secret, hmac.new(secret, digestmod=hashlib.sha256))
    mac = base.copy()
    mac.update(message)
    return str(mac.hexdigest())


def opaque_key(settings: Settings, purpose: str, value: bytes) -> str:
    """An HMAC of ``value`` for ``purpose`` (64 hex characters): names a thing in the queue or a log without it."""
    return _mac(settings, purpose.encode("ascii") + b":" + value)


def user_key(settings: Settings, user_id: str) -> str:
    """The user's key: 64 hex characters, the same for the same id in one deployment, useless without the secret."""
    return opaque_key(settings, "user", user_id.encode("utf-8", "surrogatepass"))


def legacy_key(user_id: str) -> str:
    """The key erasure records had before the secret (plain SHA-256): only to find and rewrap old records."""
    return hashlib.sha256((_LEGACY_PREFIX + user_id).encode("utf-8", "surrogatepass")).hexdigest()


def rewrap_legacy(settings: Settings, old_key: str) -> str:
    """What an old record's plain SHA-256 key becomes: an HMAC of it under the secret (no longer recoverable)."""
    return _mac(settings, _REWRAP_PREFIX + old_key.encode("ascii"))


def lookup_keys(settings: Settings, user_id: str) -> tuple[str, str]:
    """Every key a record about ``user_id`` may carry: its key, and its rewrapped legacy key."""
    return user_key(settings, user_id), rewrap_legacy(settings, legacy_key(user_id))
