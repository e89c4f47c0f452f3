"""Which data-API functions disclose a user's data, and the access trace each one leaves (worker.access).

A read's actor and purpose are checked before it runs (a bad one reads nothing, :class:`InvalidInput`);
after it succeeds, one trace per user whose data it returned. ``update_profile`` returns the whole merged
profile, so it is traced like a read; ``count_by_intent`` (counts over all users) discloses no one's data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from worker.access.labels import InvalidLabel
from worker.access.trail import AccessTrail, Who
from worker.appdata import documents, profiles, records
from worker.appdata.errors import InvalidInput
from worker.config import Settings

READS: dict[Callable[..., Any], str] = {
    profiles.get_profile: "profile",
    profiles.update_profile: "profile",
    profiles.find_users: "profile",
    records.recent_queries: "queries",
    records.get_pathway: "pathways",
    records.list_pathways: "pathways",
    records.list_documents: "documents",
    documents.get_document: "documents",
    documents.document_status: "submissions",
    documents.list_submissions: "submissions",
}


def open_trail(settings: Settings, actor: str | None, purpose: str | None, lock: Any) -> AccessTrail:
    """The API object's trail, with its default actor and purpose checked."""
    try:
        return AccessTrail.open(settings, actor=actor, purpose=purpose, lock=lock)
    except InvalidLabel as exc:
        raise InvalidInput(exc.field, exc.problem) from None


def checked(trail: AccessTrail | None, actor: str | None, purpose: str | None) -> Who | None:
    """This read's actor and purpose (the trail's defaults for those not given); None without a trail."""
    if trail is None:
        return None
    try:
        return trail.who(actor, purpose)
    except InvalidLabel as exc:
        raise InvalidInput(exc.field, exc.problem) from None


def trace(
    trail: AccessTrail | None, fn: Callable[..., Any], args: tuple[Any, ...], result: Any, who: Who | None
) -> bool:
    """Queue the read's traces; True when the caller must flush them before returning (synchronous mode)."""
    if trail is None or who is None:
        return False
    users = [p.user_id for p in result] if fn is profiles.find_users else [args[0]]
    return trail.record(users, READS[fn], who)
