"""Settings: one object, read from ``MEDIFLUX_*`` environment variables, validated at start.

Every variable is optional; the defaults run on embedded SQLite with zero
configuration. A bad value raises :class:`ConfigError`, whose message is one line
naming the variable; process entry points turn it into exit code 2
(:func:`exit_on_config_error`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from models.database import sqlite_path
from worker.retention.policies import PolicyError, RetentionPolicies, load_policies

PREFIX = "MEDIFLUX_"
DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")
QUEUE_SCHEMES = ("sqlite", "redis", "rediss", "postgresql", "postgres")
HTTP_SCHEMES = ("https", "http")
DAY = 86400.0


class ConfigError(ValueError):
    """A setting is invalid; the message is one line naming the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


@dataclass(frozen=True)
class PerSource:
    """One value per upstream API (hashable, so Settings stays hashable); ``x["bdpm"]`` reads one."""

    bdpm: float
    annuaire: float
    odisse: float

    def __getitem__(self, source: str) -> float:
        return getattr(self, source)


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
    dashboard_port: int
    dashboard_actions: bool
    dashboard_token: str | None = field(repr=False)  # never printed: it guards the dashboard's actions
    metrics_port: int
    retention: RetentionPolicies
    # API cache: upstream base URLs, the Annuaire key (a secret: never logged), policies.
    bdpm_url: str  # "" = not configured: reads raise SourceNotConfigured
    annuaire_url: str
    annuaire_api_key: str = field(repr=False)  # a secret: never printed
    odisse_url: str
    cache_ttl: PerSource  # seconds fresh
    cache_stale: PerSource  # usable-stale window after fresh_until
    cache_rate: PerSource  # upstream requests/s
    cache_negative_ttl: float
    cache_timeout: float
    cache_max_body_mb: int
    annuaire_page_cap: int
    db_pool_size: int = 10
    db_pool_timeout: float = 10.0
    db_pool_recycle: int = 300
    api_max_json_kb: int = 64
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


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _seconds(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    """A duration: plain seconds or a number with a unit (``90s``, ``15m``, ``12h``, ``1d``, ``1w``)."""
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip().lower()
    unit = _UNITS.get(text[-1:])
    try:
        value = float(text[:-1] if unit else text) * (unit or 1)
    except ValueError:
        raise ConfigError(PREFIX + name, f"expected a duration like 30, 15m, 12h or 1d, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(PREFIX + name, f"must be between {lo:g}s and {hi:g}s, got {value:g}s")
    return value


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(PREFIX + name, f"expected a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(PREFIX + name, f"must be between {lo:g} and {hi:g}, got {value:g}")
    return value


def _secret(env: Mapping[str, str], name: str) -> str:
    """A secret (API key): only checked for shape, and never echoed in an error."""
    value = (env.get(PREFIX + name) or "").strip()
    if any(c.isspace() or not c.isprintable() for c in value) or len(value) > 512:
        raise ConfigError(PREFIX + name, "must be one printable token without spaces (value not shown)")
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


def _token(env: Mapping[str, str], name: str, required: bool) -> str | None:
    """A secret from the environment: at least 16 characters; never echoed in errors."""
    raw = (env.get(PREFIX + name) or "").strip()
    if not raw:
        if required:
            raise ConfigError(PREFIX + name, "required when MEDIFLUX_DASHBOARD_ACTIONS=1 (at least 16 characters)")
        return None
    if len(raw) < 16:
        raise ConfigError(PREFIX + name, f"too short: at least 16 characters, got {len(raw)}")
    return raw


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
        dashboard_port=_int(env, "DASHBOARD_PORT", 8787, 1, 65535),
        dashboard_actions=_bool(env, "DASHBOARD_ACTIONS", False),
        dashboard_token=_token(env, "DASHBOARD_TOKEN", required=_bool(env, "DASHBOARD_ACTIONS", False)),
        metrics_port=_int(env, "METRICS_PORT", 0, 0, 65535),
        db_pool_size=_int(env, "DB_POOL_SIZE", 10, 1, 500),
        db_pool_timeout=_seconds(env, "DB_POOL_TIMEOUT", 10.0, 0.1, 600.0),
        db_pool_recycle=_int(env, "DB_POOL_RECYCLE", 300, 0, 86400),
        api_max_json_kb=_int(env, "API_MAX_JSON_KB", 64, 1, 4096),
        retention=_retention(env),
        bdpm_url=_url(env, "BDPM_URL", "", HTTP_SCHEMES),
        annuaire_url=_url(env, "ANNUAIRE_URL", "https://gateway.api.esante.gouv.fr/fhir/v2", HTTP_SCHEMES),
        annuaire_api_key=_secret(env, "ANNUAIRE_API_KEY"),
        odisse_url=_url(env, "ODISSE_URL", "https://odisse.santepubliquefrance.fr/api/explore/v2.1", HTTP_SCHEMES),
        cache_ttl=PerSource(
            bdpm=_seconds(env, "CACHE_TTL_BDPM", DAY, 60, 90 * DAY),
            annuaire=_seconds(env, "CACHE_TTL_ANNUAIRE", DAY, 60, 90 * DAY),
            odisse=_seconds(env, "CACHE_TTL_ODISSE", 7 * DAY, 60, 90 * DAY),
        ),
        cache_stale=PerSource(
            bdpm=_seconds(env, "CACHE_STALE_BDPM", 7 * DAY, 0, 365 * DAY),
            annuaire=_seconds(env, "CACHE_STALE_ANNUAIRE", 3 * DAY, 0, 365 * DAY),
            odisse=_seconds(env, "CACHE_STALE_ODISSE", 30 * DAY, 0, 365 * DAY),
        ),
        cache_rate=PerSource(
            bdpm=_float(env, "CACHE_RATE_BDPM", 10.0, 0.01, 1000),
            annuaire=_float(env, "CACHE_RATE_ANNUAIRE", 15.0, 0.01, 16.9),  # ANS limit: 17/s per application
            odisse=_float(env, "CACHE_RATE_ODISSE", 5.0, 0.01, 1000),
        ),
        cache_negative_ttl=_seconds(env, "CACHE_NEGATIVE_TTL", 900, 1, DAY),
        cache_timeout=_seconds(env, "CACHE_TIMEOUT", 30, 1, 600),
        cache_max_body_mb=_int(env, "CACHE_MAX_BODY_MB", 16, 1, 1024),
        annuaire_page_cap=_int(env, "ANNUAIRE_PAGE_CAP", 10, 1, 200),
        watch_quiet_seconds=_float(env, "WATCH_QUIET_SECONDS", 0.05, 0.0, 60.0),
        watch_rescan_seconds=_float(env, "WATCH_RESCAN_SECONDS", 60.0, 1.0, 86400.0),
        watch_ignore=_patterns(env, "WATCH_IGNORE"),
        watch_inline=_bool(env, "WATCH_INLINE", True),
        watch_lease_seconds=_float(env, "WATCH_LEASE_SECONDS", 30.0, 3.0, 3600.0),
        ingest_batch=_int(env, "INGEST_BATCH", 200, 1, 10_000),
        ingest_grace_seconds=_float(env, "INGEST_GRACE_SECONDS", 5.0, 0.0, 3600.0),
    )


def _retention(env: Mapping[str, str]) -> RetentionPolicies:
    """Retention policies from PREFIX + "RETENTION_FILE" (TOML) and PREFIX + "RETENTION_DAYS"."""
    try:
        return load_policies(env, PREFIX)
    except PolicyError as exc:
        raise ConfigError(exc.variable, exc.problem) from None


def exit_on_config_error(fn: Callable[[], Settings] = load_settings) -> Settings:
    """Load settings or stop the process: one line on stderr naming the variable, exit code 2."""
    try:
        return fn()
    except ConfigError as exc:
        fail(f"mediflux: configuration error: {exc}")


def fail(line: str) -> NoReturn:
    print(line, file=sys.stderr)
    raise SystemExit(2)
