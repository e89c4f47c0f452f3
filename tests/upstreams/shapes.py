"""What the three fake upstreams answer: GraphQL (BDPM), FHIR Bundles with paging and ETags (Annuaire
Santé), OpenDataSoft records (Odissé) — the shapes described in shared/reference/upstream-apis.md."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlencode


def medicament(cis: str, mg: int, date_amm: str, cip7: str, boxes: int) -> dict[str, Any]:
    """A BDPM medicament with every field the app asks for (paracetamol tablets)."""
    return {
        "CIS": cis,
        "denomination": f"DOLIPRANE {mg} mg, comprimé",
        "forme_pharmaceutique": "comprimé",
        "voies_administration": ["orale"],
        "statut_admin_AMM": "Autorisation active",
        "etat_commercialisation": "Commercialisée",
        "date_AMM": date_amm,
        "surveillance_renforcee": False,
        "conditions_prescription": [],
        "titulaires": ["OPELLA HEALTHCARE FRANCE"],
        "substances": [
            {
                "code_substance": "02202",
                "denominations": ["PARACÉTAMOL"],
                "dosage_substance": f"{mg} mg",
                "reference_dosage": "un comprimé",
                "nature_composant": "SA",
            }
        ],
        "presentations": [
            {
                "CIP7": cip7,
                "CIP13": f"340093{cip7}",
                "libelle": f"plaquette(s) de {boxes} comprimé(s)",
                "taux_remboursement": "65%",
                "prix_sans_honoraires": 1.16,
                "prix_avec_honoraires": 2.18,
                "agrement_collectivites": True,
                "indications_remboursement": None,
            }
        ],
    }


MEDICAMENTS = [
    medicament("60234100", 1000, "1990-07-09", "4636202", 8),
    medicament("69309629", 500, "1993-04-20", "4998331", 16),
]


def _fold(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if not unicodedata.combining(c))


def graphql(body: bytes) -> tuple[int, dict[str, Any]]:
    """Answer a GraphQL POST for the root fields the app uses."""
    try:
        doc = json.loads(body)
        query, variables = doc["query"], doc.get("variables") or {}
    except (ValueError, KeyError, TypeError):
        return 400, {"errors": [{"message": "Must provide query string."}]}
    match = re.search(r"\{\s*(\w+)", query)
    root = match.group(1) if match else ""
    if root == "medicaments":
        terms = [_fold(t) for t in (variables.get("denomination") or {}).get("contains_one_of", [])]
        found = [m for m in MEDICAMENTS if not terms or any(t in _fold(m["denomination"]) for t in terms)]
        return 200, {"data": {"medicaments": found[: variables.get("limit") or 100]}}
    if root == "medicament":
        found = [m for m in MEDICAMENTS if m["CIS"] == variables.get("CIS")]
        return 200, {"data": {"medicament": found[0] if found else None}}
    if root == "presentation":
        for m in MEDICAMENTS:
            for p in m["presentations"]:
                if p["CIP13"] == variables.get("CIP13"):
                    return 200, {"data": {"presentation": {**p, "medicament": {"CIS": m["CIS"]}}}}
        return 200, {"data": {"presentation": None}}
    if root == "substances":
        return 200, {"data": {"substances": [m["substances"][0] for m in MEDICAMENTS][:1]}}
    return 200, {"errors": [{"message": f'Cannot query field "{root}" on type "Query".'}], "data": None}


def practitioner(i: int) -> dict[str, Any]:
    rpps = f"1000{i:06d}"
    return {
        "resourceType": "Practitioner",
        "id": f"003-{i}",
        "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": rpps}],
        "name": [{"family": f"MEDECIN{i}", "given": ["Jeanne"]}],
        "active": True,
    }


PRACTITIONERS = [practitioner(i) for i in range(1, 8)]


def outcome(code: str, text: str) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


def fhir(base: str, path: str, query: str) -> tuple[int, dict[str, Any]]:
    """Search (Bundle pages linked by ``next``) or read (``Type/id``) of the fake directory."""
    parts = path.strip("/").split("/")
    kind = parts[0]
    if kind not in ("Practitioner", "PractitionerRole", "Organization"):
        return 404, outcome("not-supported", "Unknown resource type")
    if len(parts) == 2:
        found = [p for p in PRACTITIONERS if p["id"] == parts[1]] if kind == "Practitioner" else []
        return (200, found[0]) if found else (404, outcome("not-found", "Resource not found"))
    args = {k: v[-1] for k, v in parse_qs(query).items()}
    rows = PRACTITIONERS if kind == "Practitioner" else []
    if "family" in args:
        rows = [p for p in rows if p["name"][0]["family"].startswith(args["family"].upper())]
    count, offset = int(args.get("_count", 50)), int(args.get("_getpagesoffset", 0))
    page = rows[offset : offset + count]
    self_args = {k: v for k, v in args.items() if k != "_getpagesoffset"}
    links = [{"relation": "self", "url": f"{base}/{kind}?{urlencode(args)}"}]
    if offset + count < len(rows):
        links.append(
            {"relation": "next", "url": f"{base}/{kind}?{urlencode({**self_args, '_getpagesoffset': offset + count})}"}
        )
    return 200, {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(rows),
        "link": links,
        "entry": [
            {"fullUrl": f"{base}/Practitioner/{p['id']}", "resource": p, "search": {"mode": "match"}} for p in page
        ],
    }


DATASETS = {
    "covid-19-vaccination": [{"date": f"2024-01-{d:02d}", "region": "11", "doses": 1000 + d} for d in range(1, 26)]
}


def records(path: str, query: str) -> tuple[int, dict[str, Any]]:
    """``/catalog/datasets/{id}/records`` with the real API's limit checks."""
    match = re.search(r"/catalog/datasets/([^/]+)/records$", path)
    if not match or match.group(1) not in DATASETS:
        return 404, {"error_code": "NotFound", "message": "Unknown dataset"}
    args = {k: v[-1] for k, v in parse_qs(query).items()}
    limit, offset = int(args.get("limit", 10)), int(args.get("offset", 0))
    if limit > 100:
        return 400, {"error_code": "InvalidRESTParameterError", "message": "Invalid value for limit"}
    if offset + limit > 10000:
        return 400, {
            "error_code": "InvalidRESTParameterError",
            "message": "Invalid value for sum of offset + limit API parameter: 10001 was found but "
            "-1 <= offset + limit <= 10000 is expected.",
        }
    rows = DATASETS[match.group(1)]
    if "where" in args:
        rows = [r for r in rows if r["region"] in args["where"]]
    return 200, {"total_count": len(rows), "results": rows[offset : offset + limit]}


def empty(kind: str, base: str) -> dict[str, Any]:
    """A well-formed empty answer (what an upstream returns after a bad data load)."""
    if kind == "bdpm":
        return {"data": {"medicaments": []}}
    if kind == "annuaire":
        return {"resourceType": "Bundle", "type": "searchset", "total": 0, "link": [], "entry": []}
    return {"total_count": 0, "results": []}
