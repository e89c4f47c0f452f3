"""Settings: one object, read from ``MEDIFLUX_*`` environment variables, validated at start.

Every variable is optional; the defaults run on embedded SQLite with zero
configuration. A bad value raises :class:`ConfigError`, whose message is one line
naming the variable; process entry points turn it into exit code 2
(:func:`exit_on_config_error`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from models.database import sqlite_path
from worker.config_values import (  # the parsers keep their names: load_settings below calls them
    PREFIX,
    ConfigError,
    _bool,
    _bounds,
    _choice,
    _files_base,
    _float,
    _int,
    _label,
    _langs,
    _loopback,
    _name,
    _patterns,
    _retention,
    _seconds,
    _secret,
    _token,
    _url,
    _webhook_secret,
    _webhook_url,
)
from worker.retention.policies import RetentionPolicies
from worker.upstreams import UPSTREAMS, Upstream
from worker.upstreams.bdpm import BDPM_FILES

DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres")
QUEUE_SCHEMES = ("sqlite", "redis", "rediss", "postgresql", "postgres")
HTTP_SCHEMES = ("https", "http")
DAY = 86400.0


@dataclass(frozen=True)
class UpstreamSettings:
    """One upstream API's settings, read from the variables its declaration names."""

    upstream: Upstream = field(repr=False)  # the declaration they were read for (adapter, variable names)
    url: str  # base URL; "" = not configured: reads raise SourceNotConfigured
    secret: str = field(repr=False)  # the API key, "" when none: never printed
    ttl: float  # seconds fresh
    stale: float  # usable-stale window after fresh_until
    rate: float  # upstream requests/s
    page_cap: int  # most pages followed for one request (1 for sources without paging)

    @property
    def name(self) -> str:
        return self.upstream.name


class Upstreams(Mapping[str, UpstreamSettings]):
    """Each upstream's settings by name, in registry order: read-only and hashable (so Settings is)."""

    __slots__ = ("_by_name",)

    def __init__(self, items: Iterable[UpstreamSettings]) -> None:
        listed = list(items)
        self._by_name = {s.name: s for s in listed}
        if len(self._by_name) != len(listed):
            raise ValueError("two upstreams share a name")

    def __getitem__(self, name: str) -> UpstreamSettings:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __hash__(self) -> int:
        return hash(tuple(self._by_name.values()))

    def __repr__(self) -> str:
        return f"Upstreams({self._by_name!r})"


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
    # API cache: each upstream's URL, key (a secret: never logged) and policy; then what all sources share.
    upstreams: Upstreams
    cache_negative_ttl: float
    cache_timeout: float
    cache_max_body_mb: int
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
    watch_poll_quiet_seconds: float = 5.0
    api_durable: bool = True
    bdpm_files_url: str = "https://base-donnees-publique.medicaments.gouv.fr/download/file/"  # the mirror's source
    bdpm_sync_every: float = DAY  # seconds between bdpm_sync runs
    # OCR of uploaded images and PDFs (worker/ocr/): languages, DPI, the pool and the limits of one child.
    ocr_langs: str = "fra"
    ocr_dpi: int = 300
    ocr_processes: int = 0  # 0: one per core
    ocr_page_seconds: float = 120.0
    ocr_memory_mb: int = 1536
    ocr_max_pixels: int = 80_000_000
    ocr_max_pages: int = 100
    # Webhooks (worker/webhooks/): "" = off; the key is the decoded HMAC key (never printed).
    webhook_url: str = ""
    webhook_secret: bytes = field(default=b"", repr=False)
    webhook_allow_private: bool = False
    webhook_timeout: float = 10.0
    access_actor: str | None = None  # who reads, when a call names no actor (docs/privacy.md, Access traces)
    access_purpose: str | None = None  # why, when a call names no purpose
    access_flush_seconds: float = 1.0  # the data API's traces are inserted together this often (0 = each read)

    @property
    def database_is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")

    @property
    def sqlite_path(self) -> Path | None:
        """File of the SQLite data database, or None for other backends."""
        return sqlite_path(self.database_url)


def _upstream(env: Mapping[str, str], up: Upstream) -> UpstreamSettings:
    """The settings of one upstream, from the variables its declaration names, within its bounds.

    An API key goes over https only (plain http to a loopback host is allowed: a local proxy or a test fake)."""
    cap = up.page_cap
    url = _url(env, up.url_variable, up.default_url, HTTP_SCHEMES)
    secret = _secret(env, up.secret_variable) if up.secret_variable else ""
    if secret and urlsplit(url).scheme.lower() == "http" and not _loopback(urlsplit(url).hostname):
        raise ConfigError(
            PREFIX + up.url_variable,
            f"plain http would send {PREFIX}{up.secret_variable} in clear: use https (http only to a loopback host)",
        )
    return UpstreamSettings(
        upstream=up,
        url=url,
        secret=secret,
        ttl=_seconds(env, up.ttl_variable, up.ttl.default, up.ttl.lo, up.ttl.hi),
        stale=_seconds(env, up.stale_variable, up.stale.default, up.stale.lo, up.stale.hi),
        rate=_float(env, up.rate_variable, up.rate.default, up.rate.lo, up.rate.hi),
        page_cap=(
            _int(env, up.page_cap_variable, int(cap.default), int(cap.lo), int(cap.hi))
            if cap is not None and up.page_cap_variable is not None
            else 1
        ),
    )


def load_settings(env: Mapping[str, str] | None = None, upstreams: Iterable[Upstream] | None = None) -> Settings:
    """Read and validate every ``MEDIFLUX_*`` variable; raise ConfigError on the first bad one.

    ``upstreams`` are the declarations whose variables are read (the registry, ``worker.upstreams``).
    """
    env = os.environ if env is None else env
    declared = UPSTREAMS.values() if upstreams is None else upstreams
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
        upstreams=Upstreams(_upstream(env, up) for up in declared),
        cache_negative_ttl=_seconds(env, "CACHE_NEGATIVE_TTL", 900, 1, DAY),
        cache_timeout=_seconds(env, "CACHE_TIMEOUT", 30, 1, 600),
        cache_max_body_mb=_int(env, "CACHE_MAX_BODY_MB", 16, 1, 1024),
        watch_quiet_seconds=_float(env, "WATCH_QUIET_SECONDS", 0.05, 0.0, 60.0),
        watch_rescan_seconds=_float(env, "WATCH_RESCAN_SECONDS", 60.0, 1.0, 86400.0),
        watch_ignore=_patterns(env, "WATCH_IGNORE"),
        watch_inline=_bool(env, "WATCH_INLINE", True),
        watch_lease_seconds=_float(env, "WATCH_LEASE_SECONDS", 30.0, 3.0, 3600.0),
        ingest_batch=_int(env, "INGEST_BATCH", 200, 1, 10_000),
        ingest_grace_seconds=_float(env, "INGEST_GRACE_SECONDS", 5.0, 0.0, 3600.0),
        watch_poll_quiet_seconds=_float(env, "WATCH_POLL_QUIET_SECONDS", 5.0, 0.0, 3600.0),
        api_durable=_bool(env, "API_DURABLE", True),
        bdpm_files_url=_files_base(_url(env, BDPM_FILES.url_variable, BDPM_FILES.default_url, HTTP_SCHEMES)),
        bdpm_sync_every=_seconds(env, BDPM_FILES.sync_variable, *_bounds(BDPM_FILES.sync_default)),
        ocr_langs=_langs(env, "OCR_LANGS", "fra"),
        ocr_dpi=_int(env, "OCR_DPI", 300, 72, 600),
        ocr_processes=_int(env, "OCR_PROCESSES", 0, 0, 256) or (os.cpu_count() or 1),
        ocr_page_seconds=_seconds(env, "OCR_PAGE_SECONDS", 120.0, 1.0, 3600.0),
        ocr_memory_mb=_int(env, "OCR_MEMORY_MB", 1536, 256, 65536),
        ocr_max_pixels=_int(env, "OCR_MAX_PIXELS", 80_000_000, 1_000_000, 1_000_000_000),
        ocr_max_pages=_int(env, "OCR_MAX_PAGES", 100, 1, 10_000),
        webhook_url=_webhook_url(env),
        webhook_secret=_webhook_secret(env),
        webhook_allow_private=_bool(env, "WEBHOOK_ALLOW_PRIVATE", False),
        webhook_timeout=_seconds(env, "WEBHOOK_TIMEOUT", 10.0, 0.1, 60.0),
        access_actor=_label(env, "ACCESS_ACTOR"),
        access_purpose=_label(env, "ACCESS_PURPOSE"),
        access_flush_seconds=_seconds(env, "ACCESS_FLUSH_SECONDS", 1.0, 0.0, 60.0),
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
