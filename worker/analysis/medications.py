"""Match prescribed medications to BDPM (CIS code, and presentation when strength/form allow).

Matching is pure and works on BDPM-shaped candidate dicts (``CIS``,
``denomination``, ``forme_pharmaceutique``, ``substances``, ``presentations``)
returned by an injected lookup: a name goes in, candidates come out. The lookup
raises :class:`BdpmUnavailable` when BDPM cannot be reached; the medication is
then marked ``pending`` with a retry time (exponential backoff), and the
backlog job retries it later — the analysis never waits on the network.

OCR noise: names are compared accent- and case-insensitively, within a bounded
edit distance (1 edit up to 9 letters, then one more per 5 letters), and the
lookup is also asked for name fragments so that a misread letter does not hide
the product. Strength is compared in a common unit (g, mg, µg), so ``1 g`` and
``1000 mg`` agree; a name match with a different strength is not a match.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable
from typing import Any

from worker.analysis.text import edit_distance, fold

BdpmLookup = Callable[[str], list[dict[str, Any]]]
LineMatcher = Callable[[dict[str, Any]], dict[str, Any]]  # one medication field → its ``bdpm`` result


class BdpmUnavailable(Exception):
    """BDPM (through the API cache) has no data for this query right now."""


def unavailable_lookup(name: str) -> list[dict[str, Any]]:
    """A lookup for which BDPM is always unreachable (tests; the worker uses ``store.cache_lookup``)."""
    raise BdpmUnavailable("no BDPM lookup configured")


_UNITS = {"g": 1000.0, "mg": 1.0, "µg": 0.001, "ug": 0.001, "mcg": 0.001}
_STRENGTH = re.compile(r"(\d+(?:[.,]\d+)?) ?(mg|µg|ug|mcg|g)(?![a-z])")
RETRY_BASE = _dt.timedelta(minutes=15)
RETRY_MAX = _dt.timedelta(hours=24)


def name_key(text: str) -> str:
    """Comparable form of a product name: folded, letters only, single spaces."""
    return " ".join(re.sub(r"[^a-z]+", " ", fold(text)).split())


def strengths_mg(text: str) -> tuple[float, ...]:
    """Every dose in ``text`` in milligrams, in order (``1 g/125 mg`` → (1000.0, 125.0))."""
    return tuple(round(float(v.replace(",", ".")) * _UNITS[u], 6) for v, u in _STRENGTH.findall(fold(text)))


def max_edits(name: str) -> int:
    return 1 if len(name) <= 9 else 1 + (len(name) - 5) // 5


def search_terms(name: str) -> list[str]:
    """What to ask BDPM for: the name, then fragments that survive one misread letter."""
    key = name_key(name)
    terms = [key] if key else []
    compact = key.replace(" ", "")
    if len(compact) >= 8:
        terms += [compact[:5], compact[-5:]]
    return list(dict.fromkeys(terms))


def _candidate_name(denomination: str) -> str:
    """The product-name part of a BDPM denomination (before its first dose or comma)."""
    head = re.split(r"[\d,]", denomination, maxsplit=1)[0]
    return name_key(head)


def name_distance(ocr_name: str, candidate: dict[str, Any]) -> int:
    """Edit distance between the OCR name and the candidate's leading words (same word count)."""
    ocr = name_key(ocr_name)
    words = _candidate_name(str(candidate.get("denomination", ""))).split()
    cand = " ".join(words[: max(1, len(ocr.split()))])
    return edit_distance(ocr, cand, max_edits(ocr) + 1)


def _candidate_strengths(candidate: dict[str, Any]) -> tuple[float, ...]:
    own = strengths_mg(str(candidate.get("denomination", "")))
    if own:
        return own
    subs = candidate.get("substances") or []
    return tuple(s for sub in subs for s in strengths_mg(str(sub.get("dosage_substance", ""))))


def _form_ok(form: str | None, candidate: dict[str, Any]) -> bool:
    if not form:
        return True
    want = name_key(form).split()[:1]
    have = name_key(str(candidate.get("forme_pharmaceutique") or candidate.get("denomination", "")))
    return not want or want[0] in have.split() or (want[0] == "cp" and "comprime" in have)


def presentation(candidate: dict[str, Any], quantity: str | None) -> dict[str, Any] | None:
    presentations = candidate.get("presentations") or []
    if len(presentations) == 1:
        chosen = presentations[0]
    else:
        boxes = re.findall(r"\d+", fold(quantity or ""))
        fitting = [p for p in presentations if boxes and re.search(rf"\b{boxes[0]}\b", fold(str(p.get("libelle", ""))))]
        if len(fitting) != 1:
            return None
        chosen = fitting[0]
    return {"cip13": chosen.get("CIP13"), "libelle": chosen.get("libelle")}


def match(
    name: str, strength: str | None, form: str | None, quantity: str | None, candidates: list[dict[str, Any]]
) -> dict[str, Any]:
    """Best BDPM candidate for one prescribed line, or why there is none (pure)."""
    limit = max_edits(name_key(name))
    scored = [(name_distance(name, c), c) for c in candidates]
    within = [(d, c) for d, c in scored if d <= limit]
    if not within:
        return {"status": "unmatched", "reason": "no name within bounds"}
    best_d = min(d for d, _ in within)
    named = [c for d, c in within if d == best_d]
    want = strengths_mg(strength or "")
    if want:
        named = [c for c in named if _candidate_strengths(c)[: len(want)] == want]
        if not named:
            return {"status": "unmatched", "reason": "name found, strength differs"}
    shaped = [c for c in named if _form_ok(form, c)] or named
    unique: dict[Any, dict[str, Any]] = {c.get("CIS"): c for c in shaped}  # CIS codes as BDPM gives them
    score = round(1 - best_d / (len(name_key(name)) or 1), 2)
    if len(unique) > 1:
        return {"status": "ambiguous", "score": score, "cis_candidates": sorted(unique)[:5]}
    chosen = next(iter(unique.values()))
    return {
        "status": "matched",
        "score": score,
        "cis": chosen.get("CIS"),
        "denomination": chosen.get("denomination"),
        "presentation": presentation(chosen, quantity),
    }


def _value(field: Any) -> str | None:
    return field.get("value") if isinstance(field, dict) else None


def match_line(med: dict[str, Any], lookup: BdpmLookup) -> dict[str, Any]:
    """Ask ``lookup`` for each search term until one gives a match; BdpmUnavailable propagates."""
    name = _value(med.get("name")) or ""
    result: dict[str, Any] = {"status": "unmatched", "reason": "no candidates"}
    seen: dict[Any, dict[str, Any]] = {}
    for term in search_terms(name):
        for cand in lookup(term):
            seen.setdefault(cand.get("CIS"), cand)
        result = match(
            name, _value(med.get("strength")), _value(med.get("form")), _value(med.get("quantity")), list(seen.values())
        )
        if result["status"] in ("matched", "ambiguous"):
            break
    return result


def match_all(
    analysis: dict[str, Any],
    lookup: BdpmLookup,
    now: _dt.datetime,
    only_pending: bool = False,
    line_matcher: LineMatcher | None = None,
) -> None:
    """Fill ``bdpm`` on every medication of ``analysis`` (in place) and the document-level ``bdpm_status``.

    Each line goes through ``line_matcher`` (the mirror's, worker/analysis/mirror.py) or, without one, through
    :func:`match_line` over ``lookup`` (the GraphQL source through the API cache)."""
    matcher = line_matcher or (lambda med: match_line(med, lookup))
    meds = (analysis.get("fields") or {}).get("medications") or []
    for med in meds:
        previous = med.get("bdpm") or {}
        if only_pending and previous.get("status") != "pending":
            continue
        try:
            med["bdpm"] = matcher(med)
        except BdpmUnavailable:
            attempts = int(previous.get("attempts", 0)) + 1
            delay = min(RETRY_BASE * 2 ** (attempts - 1), RETRY_MAX)
            med["bdpm"] = {"status": "pending", "attempts": attempts, "retry_after": (now + delay).isoformat()}
    pending = [m["bdpm"]["retry_after"] for m in meds if m.get("bdpm", {}).get("status") == "pending"]
    analysis["bdpm_status"] = "pending" if pending else ("done" if meds else "not_applicable")
    analysis["bdpm_retry_after"] = min(pending) if pending else None
