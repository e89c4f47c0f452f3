"""Recording reads: who (actor), why (purpose), what kind (resource), through what (channel), whose (user key).

Every path that reads or exports a user's data records here: the data API (:class:`AccessTrail`, buffered,
one per API object), and ``mediflux export-user``, the dashboard and erasure (:func:`record_once`, written
at once on the caller's database). Actor and purpose come from the call, else from the process's settings
(``MEDIFLUX_ACCESS_ACTOR``, ``MEDIFLUX_ACCESS_PURPOSE``), else from the channel's default. The user is
stored as :func:`worker.userkeys.user_key` (an HMAC under the deployment's secret), never as the id; an
actor equal to the user id is stored as ``self``.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import peewee

from models.clock import utcnow
from models.pools import PoolConfig, open_pooled_database
from worker.access.labels import SELF, check_label
from worker.access.writer import BufferedWriter, Row
from worker.config import Settings
from worker.userkeys import user_key

# The resource kinds a trace may name (what was read, never its content).
RESOURCES = frozenset(
    {"profile", "queries", "pathways", "documents", "submissions", "quarantine", "export", "erasure", "access_log"}
)
# Channel → (actor, purpose) used when neither the call nor the settings give one.
CHANNEL_DEFAULTS = {
    "api": ("app", "service"),
    "cli": ("operator", "right_of_access"),
    "dashboard": ("operator", "operations"),
    "erasure": ("worker", "erasure"),
}


@dataclass(frozen=True)
class Who:
    """A checked actor and purpose."""

    actor: str
    purpose: str


def resolve(settings: Settings, channel: str, actor: str | None = None, purpose: str | None = None) -> Who:
    """The call's actor and purpose, else the process's, else the channel's; :class:`InvalidLabel` if bad."""
    default_actor, default_purpose = CHANNEL_DEFAULTS[channel]
    return Who(
        check_label("actor", actor if actor is not None else settings.access_actor or default_actor),
        check_label("purpose", purpose if purpose is not None else settings.access_purpose or default_purpose),
    )


def rows_for(
    settings: Settings,
    user_ids: Iterable[str],
    resource: str,
    who: Who,
    channel: str,
    key: Callable[[str], str] | None = None,
) -> list[Row]:
    """One ``access_log`` row per distinct user (keyed, never the id), stamped now (UTC)."""
    key = key or functools.partial(user_key, settings)
    if resource not in RESOURCES:
        raise ValueError(f"unknown resource kind {resource!r}")
    now = utcnow()
    return [
        {
            "at": now,
            "user_key": key(user_id),
            "actor": SELF if who.actor == user_id else who.actor,
            "purpose": who.purpose,
            "resource": resource,
            "channel": channel,
        }
        for user_id in dict.fromkeys(user_ids)
    ]


def record_once(
    settings: Settings,
    database: peewee.Database,
    user_ids: Iterable[str],
    resource: str,
    *,
    channel: str,
    actor: str | None = None,
    purpose: str | None = None,
) -> int:
    """Write the traces now, on ``database`` (the CLI's, the dashboard's, the erasure's); the number written."""
    writer = BufferedWriter(database, 0)
    writer.add(rows_for(settings, user_ids, resource, resolve(settings, channel, actor, purpose), channel))
    return writer.flush()


class AccessTrail:
    """The data API's recorder: its process defaults, and a :class:`BufferedWriter` on a connection of its own.

    ``actor``/``purpose`` given here override the settings for every read through this API object.
    """

    channel = "api"

    def __init__(
        self, settings: Settings, writer: BufferedWriter, *, actor: str | None = None, purpose: str | None = None
    ):
        self.settings = settings
        self.writer = writer
        self.defaults = resolve(settings, self.channel, actor, purpose)
        # The key of a user read again is not recomputed (an HMAC costs ~10 µs, most of a trace's cost).
        self._key = functools.lru_cache(maxsize=4096)(functools.partial(user_key, settings))
        self._finalizer = weakref.finalize(self, writer.close)  # at interpreter exit, if close() was never called

    @classmethod
    def open(
        cls, settings: Settings, *, actor: str | None = None, purpose: str | None = None, lock: Any = None
    ) -> AccessTrail:
        """A trail writing through a one-connection sync pool (never the async pool: the flush runs in a thread)."""
        database = open_pooled_database(
            settings.database_url,
            PoolConfig(size=1, acquire_timeout=settings.db_pool_timeout, durable=settings.api_durable),
        )
        writer = BufferedWriter(database, settings.access_flush_seconds, lock=lock, owns_database=True)
        return cls(settings, writer, actor=actor, purpose=purpose)

    def who(self, actor: str | None, purpose: str | None) -> Who:
        """This call's actor and purpose (the trail's defaults for those not given); :class:`InvalidLabel` if bad."""
        return Who(
            self.defaults.actor if actor is None else check_label("actor", actor),
            self.defaults.purpose if purpose is None else check_label("purpose", purpose),
        )

    def record(self, user_ids: Iterable[str], resource: str, who: Who) -> bool:
        """Queue the traces; True when the caller must :meth:`flush` before returning (synchronous mode)."""
        rows = rows_for(self.settings, user_ids, resource, who, self.channel, self._key)
        if rows:
            self.writer.add(rows)
        return bool(rows) and self.writer.synchronous

    def flush(self) -> int:
        return self.writer.flush()

    def close(self) -> None:
        """Insert every waiting trace and close the trail's connection (at the API's shutdown)."""
        self._finalizer()
