"""The value parsers of :mod:`worker.config`: each reads one ``MEDIFLUX_*`` variable, returns its default when unset
and raises :class:`ConfigError` (one line naming the variable, never echoing a secret) when it is bad.

They keep their ``_`` names: :func:`worker.config.load_settings` calls them and is where a setting is added.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from models.database import sqlite_path
from worker.access.labels import InvalidLabel, check_label
from worker.retention.policies import PolicyError, RetentionPolicies, load_policies
from worker.upstreams import Bounds
from worker.webhooks.addresses import RefusedTarget, check_url
from worker.webhooks.secret import BadSecret, parse_secret

PREFIX = "MEDIFLUX_"


class ConfigError(ValueError):
    """A setting is invalid; the message is one line naming the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


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


_LANGS = re.compile(r"[a-z][a-z0-9_]{1,31}(\+[a-z][a-z0-9_]{1,31})*")


def _langs(env: Mapping[str, str], name: str, default: str) -> str:
    """Tesseract languages, ``fra`` or ``fra+eng`` (model names joined by ``+``)."""
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip()
    if not _LANGS.fullmatch(value):
        raise ConfigError(PREFIX + name, f"expected Tesseract model names joined by '+' (e.g. fra+eng), got {raw!r}")
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


def _loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or ``localhost``: traffic that never leaves the machine."""
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _label(env: Mapping[str, str], name: str) -> str | None:
    """An access-log actor or purpose (worker.access.labels); None when unset."""
    raw = (env.get(PREFIX + name) or "").strip()
    if not raw:
        return None
    try:
        return check_label(name.rsplit("_", 1)[-1].lower(), raw)
    except InvalidLabel as exc:
        raise ConfigError(PREFIX + name, exc.problem) from None


def _files_base(url: str) -> str:
    """A base URL file names are appended to: it ends with ``/``."""
    return url if url.endswith("/") else url + "/"


def _bounds(b: Bounds) -> tuple[float, float, float]:
    return b.default, b.lo, b.hi


def _webhook_url(env: Mapping[str, str]) -> str:
    raw = (env.get(PREFIX + "WEBHOOK_URL") or "").strip()
    if raw:
        try:
            check_url(raw, _bool(env, "WEBHOOK_ALLOW_PRIVATE", False))
        except RefusedTarget as exc:  # never echo the URL
            raise ConfigError(PREFIX + "WEBHOOK_URL", str(exc)) from None
    return raw


def _webhook_secret(env: Mapping[str, str]) -> bytes:
    raw = (env.get(PREFIX + "WEBHOOK_SECRET") or "").strip()
    if not raw:
        if (env.get(PREFIX + "WEBHOOK_URL") or "").strip():
            raise ConfigError(PREFIX + "WEBHOOK_SECRET", "required when MEDIFLUX_WEBHOOK_URL is set (whsec_<base64>)")
        return b""
    try:
        return parse_secret(raw)
    except BadSecret as exc:
        raise ConfigError(PREFIX + "WEBHOOK_SECRET", str(exc)) from None


def _retention(env: Mapping[str, str]) -> RetentionPolicies:
    """Retention policies from PREFIX + "RETENTION_FILE" (TOML) and PREFIX + "RETENTION_DAYS"."""
    try:
        return load_policies(env, PREFIX)
    except PolicyError as exc:
        raise ConfigError(exc.variable, exc.problem) from None
