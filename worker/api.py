"""The app's data API: profiles, sessions, care pathways, documents — sync and async, on pooled connections.

The app never writes SQL nor knows which database is underneath. Open once at
start, share the object, close at shutdown::

    api = open_async_api()                  # bootstrap (settings, migrations) + async pool
    profile = await api.get_profile("u-42")
    await api.close()

Every method validates its input first and raises a typed
:class:`worker.appdata.errors.DataError` (bad shape, unknown user, payload too
large) before anything is written; each write is one transaction. Results are
frozen dataclasses (:mod:`worker.appdata.views`). Work the app enqueues goes
through the task functions (``tasks.ingest.ingest_files`` …; docs/app-api.md).

Reads take ``actor`` and ``purpose`` (keywords; defaults from the constructor, else
``MEDIFLUX_ACCESS_ACTOR`` / ``MEDIFLUX_ACCESS_PURPOSE``, else ``app`` / ``service``) and
leave a trace in the access log (:mod:`worker.access`): who, why, what kind, the user's key.
"""

from __future__ import annotations

from worker.appdata.async_api import AsyncDataAPI
from worker.appdata.errors import (
    DataError,
    FileTooLarge,
    InvalidInput,
    InvalidProfile,
    PayloadTooLarge,
    UnknownDocument,
    UnknownPathway,
    UnknownStep,
    UnknownSubmission,
    UnknownUser,
    UnsupportedType,
    UserExists,
)
from worker.appdata.handle import pool_config
from worker.appdata.sync_api import DataAPI
from worker.appdata.views import Decision, Document, DocumentSummary, Pathway, Profile, QueryRecord, Submission, as_json
from worker.config import Settings
from worker.runtime import bootstrap


def open_api(settings: Settings | None = None) -> DataAPI:
    """Bootstrap the process (settings — exit 2 on a bad one —, database, migrations) and open the sync API."""
    return DataAPI.from_settings(bootstrap(settings).settings)


def open_async_api(settings: Settings | None = None) -> AsyncDataAPI:
    """Bootstrap the process and open the async API (call at start-up; ``await api.close()`` at shutdown)."""
    return AsyncDataAPI.from_settings(bootstrap(settings).settings)


__all__ = [
    "AsyncDataAPI",
    "DataAPI",
    "DataError",
    "Decision",
    "Document",
    "DocumentSummary",
    "FileTooLarge",
    "InvalidInput",
    "InvalidProfile",
    "Pathway",
    "PayloadTooLarge",
    "Profile",
    "QueryRecord",
    "Submission",
    "UnknownDocument",
    "UnknownPathway",
    "UnknownStep",
    "UnknownSubmission",
    "UnknownUser",
    "UnsupportedType",
    "UserExists",
    "as_json",
    "open_api",
    "open_async_api",
    "pool_config",
]
