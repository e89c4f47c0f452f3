"""Settings: one object, read from ``MEDIFLUX_*`` environment variables, validated at start.

Every variable is optional; the defaults run on embedded SQLite with zero
configuration. A bad value raises :class:`ConfigError`, whose message is one line
naming the variable; process entry points turn it into exit code 2
(:func:`exit_on_config_error`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, NoReturn
from urllib.parse import urlsplit

from models.database import sqlite_path

PREFIX = "MEDIFLUX_"
DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")
QUEUE_SCHEMES = ("sqlite", "redis", "rediss", "postgresql", "postgres")


class ConfigError(ValueError):
    """A setting is invalid; the message is one line naming the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


@dataclass(frozen=True)
class Settings:
    """Validated worker settings. Build with :func:`load_settings`."""

    home: Path
    database_url: str
    queue_url: str
    queue_name: str
    inbox: Path
    keep_processed: bool
    max_file_mb: int
    watch_polling: bool
    log_format: str
    log_level: str
    watch_quiet_seconds: float = 0.05
    watch_rescan_seconds: float = 60.0
    watch_ignore: tuple[str, ...] = ()
    watch_inline: bool = True
    watch_lease_seconds: float = 30.0
    ingest_batch: int = 200
    ingest_grace_seconds: float = 5.0

    @property
    def database_is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")

    @property
    def sqlite_path(self) -> Path | None:
        """File of the SQLite data database, or None for other backends."""
        return sqlite_path(self.database_url)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(PREFIX + name, f"expected 0 or 1 (or true/false), got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(PREFIX + name, f"expected a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(PREFIX + name, f"must be between {lo} and {hi}, got {value}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ConfigError(PREFIX + name, f"expected one of {', '.join(choices)}, got {raw!r}")
    return value


def _url(env: Mapping[str, str], name: str, default: str, schemes: tuple[str, ...]) -> str:
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip()
    scheme = urlsplit(value).scheme.lower()
    if scheme not in schemes:
        # Never echo the URL: it may carry a password.
        raise ConfigError(
            PREFIX + name,
            f"unsupported scheme {scheme or '(none)'!r}; expected one of {', '.join(schemes)}",
        )
    if scheme == "sqlite" and sqlite_path(value) is None:
        raise ConfigError(PREFIX + name, "an SQLite URL needs a file path (sqlite:///path/to/file.db)")
    return value


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(PREFIX + name, f"expected a number, got {raw!r}") from None
    if not lo <= value <= hi:  # also refuses nan
        raise ConfigError(PREFIX + name, f"must be between {lo:g} and {hi:g}, got {raw.strip()}")
    return value


def _patterns(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(PREFIX + name) or ""
    items = tuple(p.strip() for p in raw.split(",") if p.strip())
    if any("/" in p.rstrip("/") or p in (".", "..") for p in items):
        raise ConfigError(PREFIX + name, "comma-separated name patterns (a folder pattern may end with '/')")
    return items


def _name(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip()
    if not value.replace("-", "").replace("_", "").isalnum() or len(value) > 64:
        raise ConfigError(PREFIX + name, "use letters, digits, '-' and '_' only (at most 64)")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every ``MEDIFLUX_*`` variable; raise ConfigError on the first bad one."""
    env = os.environ if env is None else env
    home_raw = env.get(PREFIX + "HOME", "").strip() or "./var"
    home = Path(home_raw).expanduser().absolute()
    if home.exists() and not home.is_dir():
        raise ConfigError(PREFIX + "HOME", "exists and is not a directory")
    inbox_raw = env.get(PREFIX + "INBOX", "").strip()
    inbox = Path(inbox_raw).expanduser().absolute() if inbox_raw else home / "inbox"
    if inbox.exists() and not inbox.is_dir():
        raise ConfigError(PREFIX + "INBOX", "exists and is not a directory")
    return Settings(
        home=home,
        database_url=_url(env, "DATABASE_URL", f"sqlite:///{home / 'mediflux.db'}", DATABASE_SCHEMES),
        queue_url=_url(env, "QUEUE_URL", f"sqlite:///{home / 'queue.db'}", QUEUE_SCHEMES),
        queue_name=_name(env, "QUEUE_NAME", "mediflux"),
        inbox=inbox,
        keep_processed=_bool(env, "KEEP_PROCESSED", False),
        max_file_mb=_int(env, "MAX_FILE_MB", 50, 1, 4096),
        watch_polling=_bool(env, "WATCH_POLLING", False),
        log_format=_choice(env, "LOG_FORMAT", "human", ("human", "json")),
        log_level=_choice(env, "LOG_LEVEL", "info", ("debug", "info", "warning", "error")),
        watch_quiet_seconds=_float(env, "WATCH_QUIET_SECONDS", 0.05, 0.0, 60.0),
        watch_rescan_seconds=_float(env, "WATCH_RESCAN_SECONDS", 60.0, 1.0, 86400.0),
        watch_ignore=_patterns(env, "WATCH_IGNORE"),
        watch_inline=_bool(env, "WATCH_INLINE", True),
        watch_lease_seconds=_float(env, "WATCH_LEASE_SECONDS", 30.0, 3.0, 3600.0),
        ingest_batch=_int(env, "INGEST_BATCH", 200, 1, 10_000),
        ingest_grace_seconds=_float(env, "INGEST_GRACE_SECONDS", 5.0, 0.0, 3600.0),
    )


def exit_on_config_error(fn: Callable[[], Settings] = load_settings) -> Settings:
    """Load settings or stop the process: one line on stderr naming the variable, exit code 2."""
    try:
        return fn()
    except ConfigError as exc:
        fail(f"mediflux: configuration error: {exc}")


def fail(line: str) -> NoReturn:
    print(line, file=sys.stderr)
    raise SystemExit(2)
