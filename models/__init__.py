"""Peewee models of mediflux, their database factory and migrations.

Knows nothing of huey, tasks or the CLI. Bind with
``models.database.open_database(url)`` and bring the schema up to date with
``models.migrator.upgrade(database)``.
"""

from models.access import AccessLog
from models.base import BaseModel, Json, UTCDateTimeField, db, is_postgres
from models.bdpm import MODELS as BDPM_MODELS
from models.bdpm import (
    BdpmAvis,
    BdpmComposition,
    BdpmCondition,
    BdpmFileState,
    BdpmGenerique,
    BdpmLienCt,
    BdpmPresentation,
    BdpmSpecialite,
    BdpmState,
    BdpmVersion,
)
from models.cache import ApiCache, ApiCacheStats, ApiRateLimit
from models.documents import Document
from models.ingest import IngestDuplicate
from models.jobs import JobRun, PeriodicJob
from models.json_paths import json_text
from models.leases import Lease
from models.pathways import CarePathway, PathwayDecision
from models.retention import ErasureRequest, RetentionAudit, SessionSummary
from models.submissions import Submission
from models.users import QuerySession, User
from models.webhooks import WebhookDelivery

ALL_MODELS: tuple[type[BaseModel], ...] = (
    User,
    QuerySession,
    ApiCache,
    Document,
    CarePathway,
    PathwayDecision,
    PeriodicJob,
    JobRun,
    Lease,
    RetentionAudit,
    ErasureRequest,
    SessionSummary,
    ApiCacheStats,
    ApiRateLimit,
    IngestDuplicate,
    *BDPM_MODELS,  # the mirror's tables, in their own module's order
    Submission,
    WebhookDelivery,
    AccessLog,
)

__all__ = [
    "ALL_MODELS",
    "AccessLog",
    "ApiCache",
    "ApiCacheStats",
    "ApiRateLimit",
    "BaseModel",
    "BdpmAvis",
    "BdpmComposition",
    "BdpmCondition",
    "BdpmFileState",
    "BdpmGenerique",
    "BdpmLienCt",
    "BdpmPresentation",
    "BdpmSpecialite",
    "BdpmState",
    "BdpmVersion",
    "CarePathway",
    "Document",
    "ErasureRequest",
    "IngestDuplicate",
    "JobRun",
    "Json",
    "Lease",
    "PathwayDecision",
    "PeriodicJob",
    "QuerySession",
    "RetentionAudit",
    "SessionSummary",
    "Submission",
    "UTCDateTimeField",
    "User",
    "WebhookDelivery",
    "db",
    "is_postgres",
    "json_text",
]
