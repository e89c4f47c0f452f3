"""Test data for the retention tests: one user's rows and files, written directly (real databases, real dirs)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from models import ApiCache, CarePathway, Document, PathwayDecision, QuerySession, User
from worker.config import Settings

UTC = dt.timezone.utc


def make_user(
    settings: Settings, user_id: str, *, at: dt.datetime, secret: str, sessions: int = 3, legal_hold: bool = False
) -> User:
    """A user with profile, sessions, a document (+ processed copy), a pathway with decisions, inbox and
    quarantine files, and a cache row whose params carry the id. ``secret`` is a distinctive text put in
    the document, sessions and files (the erasure grep looks for it)."""
    user = User.create(
        user_id=user_id,
        profile={"mutuelle": "MGEN", "pathology": f"asthme {secret}"},
        legal_hold=legal_hold,
        created_at=at,
        updated_at=at,
    )
    QuerySession.insert_many(
        [
            {
                "user": user.id,
                "query_text": f"pharmacie de garde {secret} {i}",
                "intent": "pharmacy" if i % 2 else "drug",
                "result": {"n": i},
                "created_at": at + dt.timedelta(minutes=i),
            }
            for i in range(sessions)
        ]
    ).execute()
    text = f"Ordonnance {secret} : amoxicilline 1 g"
    sha = hashlib.sha256(f"{user_id}{secret}".encode()).hexdigest()
    rel = f"processed/{user_id}/{sha}.txt"
    (settings.home / "processed" / user_id).mkdir(parents=True, exist_ok=True)
    (settings.home / rel).write_text(text)
    doc = Document.create(
        user=user,
        original_filename=f"{secret}.txt",
        sha256=sha,
        format="text",
        pages=[{"number": 1, "text": text}],
        text=text,
        meta={"processed_path": rel},
        analysis={"document_type": "ordonnance", "note": secret},
        created_at=at,
    )
    # An earlier version of the text, overwritten: its old bytes must not survive either.
    Document.update(text=text + " (v2)").where(Document.id == doc.id).execute()
    pathway = CarePathway.create(user=user, condition="asthme", pathway={"steps": ["gp", secret]}, created_at=at)
    PathwayDecision.create(pathway=pathway, step="gp", decision={"accepted": True, "why": secret}, decided_at=at)
    inbox = settings.inbox / user_id
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "scan.json").write_text(json.dumps({"pages": [{"text": secret}]}))
    quarantine = settings.home / "quarantine"
    quarantine.mkdir(parents=True, exist_ok=True)
    name = f"bad-{sha[:8]}.xml"
    (quarantine / name).write_text(f"<broken>{secret}")
    (quarantine / f"{name}.error.json").write_text(json.dumps({"reason": "invalid XML", "user_id": user_id}))
    ApiCache.create(
        source="annuaire",
        endpoint="search",
        params_hash=sha,
        params={"user_id": user_id, "q": "gp"},
        response={"x": 1},
        stale_until=at + dt.timedelta(days=3650),
    )
    return user


def counts_of(user: User) -> dict[str, int]:
    return {
        "users": User.select().where(User.id == user.id).count(),
        "sessions": QuerySession.select().where(QuerySession.user == user.id).count(),
        "documents": Document.select().where(Document.user == user.id).count(),
        "care_pathways": CarePathway.select().where(CarePathway.user == user.id).count(),
        "pathway_decisions": PathwayDecision.select().join(CarePathway).where(CarePathway.user == user.id).count(),
    }


def raw_contains(settings: Settings, needle: str) -> list[str]:
    """Which of the SQLite database file and its WAL contain ``needle`` (UTF-8 bytes)."""
    path = settings.sqlite_path
    assert path is not None
    found = []
    for candidate in (path, Path(str(path) + "-wal")):
        if candidate.exists() and needle.encode() in candidate.read_bytes():
            found.append(candidate.name)
    return found
