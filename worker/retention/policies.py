"""Retention policies: how long each category of data is kept, read from settings, checked at start.

Declarative: one number of days per category, with defaults chosen (and
documented in docs/retention.md) for a patient-facing health app. Overrides come
from ``MEDIFLUX_RETENTION_DAYS`` ("sessions=180,documents=730") or a TOML file
(``MEDIFLUX_RETENTION_FILE``, table ``[retention]``); the environment wins.
Inconsistent values (rows kept shorter than the files they describe) are refused.
"""

from __future__ import annotations

import datetime as _dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

MAX_DAYS = 36_500


class PolicyError(ValueError):
    """A retention setting is invalid; ``variable`` names the setting at fault."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


@dataclass(frozen=True)
class RetentionPolicies:
    """Days each category is kept (age measured from creation, or last activity where noted)."""

    sessions: int = 365  # query log: a year of history for the app, then only a per-user summary
    documents: int = 1095  # the user's health documents (rows, text, analysis): three years
    processed: int = 30  # raw copies in processed/: only for re-ingestion after an extractor change
    quarantine: int = 30  # failed inbox files: a month for an operator to look, then gone
    cache_revalidate: int = 7  # api_cache rows with an ETag/Last-Modified kept this long past stale_until
    pathways: int = 730  # care pathways and their decisions, from the last decision
    huey_events: int = 14  # huey's task stats (dashboard): operational data, two weeks
    access_log: int = 183  # access traces (who read a user's data, why): six months, then pruned
    summarize_sessions: bool = True  # fold pruned sessions into session_summaries first
    submissions: int = 365  # finished submissions (the app's receipts): a year of history
    webhooks: int = 30  # webhook deliveries (ids and outcome only), from when they were delivered or given up

    def cutoff(self, category: str, now: _dt.datetime) -> _dt.datetime:
        """Rows of ``category`` older than this go."""
        return now - _dt.timedelta(days=getattr(self, category))


DAY_FIELDS = tuple(f.name for f in fields(RetentionPolicies) if f.type in ("int", int))


def _days(variable: str, key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise PolicyError(variable, f"{key}: expected a number of days")
    try:
        days = int(str(value).strip())
    except ValueError:
        raise PolicyError(variable, f"{key}: expected a number of days, got {value!r}") from None
    if not 1 <= days <= MAX_DAYS:
        raise PolicyError(variable, f"{key}: must be between 1 and {MAX_DAYS} days, got {days}")
    return days


def _overrides(variable: str, items: Mapping[str, object]) -> dict[str, Any]:
    """Checked ``RetentionPolicies`` field values by name (an int of days, or the summarize flag)."""
    out: dict[str, Any] = {}
    for key, value in items.items():
        if key == "summarize_sessions":
            if not isinstance(value, bool):
                raise PolicyError(variable, "summarize_sessions: expected true or false")
            out[key] = value
        elif key in DAY_FIELDS:
            out[key] = _days(variable, key, value)
        else:
            raise PolicyError(variable, f"unknown category {key!r}; expected one of {', '.join(DAY_FIELDS)}")
    return out


def parse_days(variable: str, raw: str) -> dict[str, Any]:
    """``"sessions=180, documents=730, summarize_sessions=0"`` → overrides (``MEDIFLUX_RETENTION_DAYS``)."""
    items: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise PolicyError(variable, f"expected category=days, got {part!r}")
        key, value = key.strip(), value.strip()
        if key == "summarize_sessions":
            flags = {"1": True, "true": True, "0": False, "false": False}
            if value.lower() not in flags:
                raise PolicyError(variable, "summarize_sessions: expected 0 or 1")
            items[key] = flags[value.lower()]
        else:
            items[key] = value
    return _overrides(variable, items)


def read_file(variable: str, path: Path) -> dict[str, Any]:
    """Overrides from the ``[retention]`` table of a TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(variable, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(variable, f"cannot read the file ({type(exc).__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(variable, f"invalid TOML: {exc}") from None
    table = data.get("retention", {})
    if not isinstance(table, dict):
        raise PolicyError(variable, "[retention] must be a table")
    return _overrides(variable, table)


def check(policies: RetentionPolicies, variable: str) -> RetentionPolicies:
    """Refuse combinations that would orphan data: rows must outlive the files they describe."""
    if policies.documents < policies.processed:
        raise PolicyError(
            variable,
            f"documents ({policies.documents} days) kept shorter than their processed files "
            f"({policies.processed} days): rows would vanish before the files they describe",
        )
    return policies


def load_policies(env: Mapping[str, str], prefix: str = "MEDIFLUX_") -> RetentionPolicies:
    """Defaults, then the TOML file, then ``<prefix>RETENTION_DAYS``; checked as a whole."""
    policies = RetentionPolicies()
    blame = prefix + "RETENTION_DAYS"
    file_raw = env.get(prefix + "RETENTION_FILE", "").strip()
    if file_raw:
        blame = prefix + "RETENTION_FILE"
        policies = replace(policies, **read_file(blame, Path(file_raw).expanduser()))
    days_raw = env.get(prefix + "RETENTION_DAYS", "").strip()
    if days_raw:
        blame = prefix + "RETENTION_DAYS"
        policies = replace(policies, **parse_days(blame, days_raw))
    return check(policies, blame)
