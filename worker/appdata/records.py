"""Sessions (the query log), care pathways with decisions, and a user's documents with their analysis."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import peewee

from models import CarePathway, Document, PathwayDecision, QuerySession, json_text
from models.clock import ensure_utc, utcnow
from worker.appdata import validate
from worker.appdata.backend import Backend, user_pk
from worker.appdata.errors import InvalidInput, UnknownPathway, UnknownStep
from worker.appdata.views import Decision, DocumentSummary, Pathway, QueryRecord

KEY_SHARE = "FOR KEY SHARE"  # children reference the parent: an erasure waits for this insert, never breaks it


def _limit(value: int, hi: int = 500) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= hi:
        raise InvalidInput("limit", f"expected 1-{hi}")
    return value


def _instant(field: str, value: object) -> _dt.datetime:
    if not isinstance(value, _dt.datetime):
        raise InvalidInput(field, "expected a datetime")
    try:
        return ensure_utc(value)
    except ValueError:
        raise InvalidInput(field, "naive datetime refused: use timezone-aware UTC") from None


# --- sessions -----------------------------------------------------------------------------------------------


def log_query(b: Backend, user_id: str, text: str, intent: str | None = None, result: Any = None) -> QueryRecord:
    """Record one query of the user (NIRs in the text are masked before storage)."""
    validate.user_id(user_id)
    stored_text = validate.query_text(text)
    validate.text("intent", intent, 64, required=False)
    encoded = validate.json_document("result", result, b.max_json_bytes) if result is not None else None
    now = utcnow()
    with b.database.atomic():
        user = user_pk(b, user_id, lock=KEY_SHARE)
        new_id = QuerySession.insert(
            {
                QuerySession.user: user.id,
                QuerySession.query_text: stored_text,
                QuerySession.intent: intent,
                QuerySession.result: b.json(encoded) if encoded is not None else None,
                QuerySession.created_at: now,
            }
        ).execute(b.database)
    return QueryRecord(int(new_id), user_id, stored_text, intent, result, now)


def recent_queries(b: Backend, user_id: str, limit: int = 20, since: _dt.datetime | None = None) -> list[QueryRecord]:
    """The user's latest queries, newest first (index ``sessions(user_id, created_at)``)."""
    validate.user_id(user_id)
    _limit(limit)
    user = user_pk(b, user_id)
    query = QuerySession.select().where(QuerySession.user == user.id)
    if since is not None:
        query = query.where(QuerySession.created_at >= _instant("since", since))
    query = query.order_by(QuerySession.created_at.desc(), QuerySession.id.desc()).limit(limit)
    return [QueryRecord(r.id, user_id, r.query_text, r.intent, r.result, r.created_at) for r in b.rows(query)]


def count_by_intent(b: Backend, start: _dt.datetime, end: _dt.datetime) -> dict[str | None, int]:
    """Queries per intent with ``start <= created_at < end`` (all users; index ``sessions(created_at)``)."""
    start, end = _instant("start", start), _instant("end", end)
    if end <= start:
        raise InvalidInput("end", "must be after start")
    query = (
        QuerySession.select(QuerySession.intent, peewee.fn.COUNT(QuerySession.id).alias("n"))
        .where((QuerySession.created_at >= start) & (QuerySession.created_at < end))
        .group_by(QuerySession.intent)
        .tuples()
    )
    return {intent: int(n) for intent, n in b.rows(query)}


# --- care pathways ------------------------------------------------------------------------------------------


def store_pathway(b: Backend, user_id: str, condition: str, pathway: dict[str, Any]) -> Pathway:
    """Store a generated pathway (``{"steps": [...], ...}``) for the user."""
    validate.user_id(user_id)
    validate.text("condition", condition, 128)
    validate.step_ids(pathway)
    encoded = validate.json_document("pathway", pathway, b.max_json_bytes)
    now = utcnow()
    with b.database.atomic():
        user = user_pk(b, user_id, lock=KEY_SHARE)
        new_id = CarePathway.insert(
            {
                CarePathway.user: user.id,
                CarePathway.condition: condition,
                CarePathway.pathway: b.json(encoded),
                CarePathway.created_at: now,
            }
        ).execute(b.database)
    return Pathway(int(new_id), user_id, condition, pathway, now)


def _owned_pathway(b: Backend, user_id: str, pathway_id: int, lock: str | None = None) -> CarePathway:
    if not isinstance(pathway_id, int) or isinstance(pathway_id, bool):
        raise InvalidInput("pathway_id", "expected an integer")
    user = user_pk(b, user_id)
    query = CarePathway.select().where((CarePathway.id == pathway_id) & (CarePathway.user == user.id))
    row = b.first(b.locked(query, lock) if lock else query)
    if row is None:
        raise UnknownPathway(pathway_id)
    return row


def record_decision(b: Backend, user_id: str, pathway_id: int, step: str, decision: dict[str, Any]) -> Decision:
    """Record the user's decision on one step of their pathway (decisions are kept as a history)."""
    validate.user_id(user_id)
    validate.text("step", step, 128)
    if not isinstance(decision, dict):
        raise InvalidInput("decision", "expected a JSON object")
    encoded = validate.json_document("decision", decision, b.max_json_bytes)
    now = utcnow()
    with b.database.atomic():
        row = _owned_pathway(b, user_id, pathway_id, lock=KEY_SHARE)
        if step not in validate.step_ids(row.pathway):
            raise UnknownStep(step)
        new_id = PathwayDecision.insert(
            {
                PathwayDecision.pathway: row.id,
                PathwayDecision.step: step,
                PathwayDecision.decision: b.json(encoded),
                PathwayDecision.decided_at: now,
            }
        ).execute(b.database)
    return Decision(int(new_id), step, decision, now)


def _with_decisions(b: Backend, user_id: str, rows: list[CarePathway]) -> list[Pathway]:
    by_pathway: dict[int, list[Decision]] = {r.id: [] for r in rows}
    if rows:
        query = (
            PathwayDecision.select()
            .where(PathwayDecision.pathway.in_(list(by_pathway)))
            .order_by(PathwayDecision.decided_at, PathwayDecision.id)
        )
        for d in b.rows(query):
            by_pathway[d.pathway_id].append(Decision(d.id, d.step, d.decision, d.decided_at))
    return [Pathway(r.id, user_id, r.condition, r.pathway, r.created_at, tuple(by_pathway[r.id])) for r in rows]


def get_pathway(b: Backend, user_id: str, pathway_id: int) -> Pathway:
    """One of the user's pathways with every decision, oldest first."""
    validate.user_id(user_id)
    return _with_decisions(b, user_id, [_owned_pathway(b, user_id, pathway_id)])[0]


def list_pathways(b: Backend, user_id: str, condition: str | None = None, limit: int = 20) -> list[Pathway]:
    """The user's pathways, newest first, each with its decisions."""
    validate.user_id(user_id)
    _limit(limit)
    user = user_pk(b, user_id)
    query = CarePathway.select().where(CarePathway.user == user.id)
    if condition is not None:
        query = query.where(CarePathway.condition == validate.text("condition", condition, 128))
    query = query.order_by(CarePathway.created_at.desc(), CarePathway.id.desc()).limit(limit)
    return _with_decisions(b, user_id, b.rows(query))


# --- documents ----------------------------------------------------------------------------------------------


def list_documents(
    b: Backend, user_id: str, document_type: str | None = None, limit: int = 50
) -> list[DocumentSummary]:
    """The user's documents with their analysis, newest first; optionally one document type only."""
    validate.user_id(user_id)
    _limit(limit)
    user = user_pk(b, user_id)
    query = Document.select(
        Document.id,
        Document.original_filename,
        Document.format,
        Document.status,
        Document.analysis,
        Document.created_at,
    ).where(Document.user == user.id)
    if document_type is not None:
        validate.text("document_type", document_type, 64)
        query = query.where(json_text(Document.analysis, "document_type") == document_type)
    query = query.order_by(Document.created_at.desc(), Document.id.desc()).limit(limit)
    out = []
    for d in b.rows(query):
        analysis = d.analysis if isinstance(d.analysis, dict) else None
        out.append(
            DocumentSummary(
                d.id,
                d.original_filename,
                d.format,
                d.status,
                (analysis or {}).get("document_type"),
                analysis,
                d.created_at,
            )
        )
    return out
