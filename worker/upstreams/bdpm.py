"""BDPM over the GraphQL API of the app (``POST <base>/graphql``): endpoint = root field, params = variables.

GraphQL reports errors with HTTP 200 and ``{"errors": [...]}``: that is an error, never a
result to cache. The cached data is the ``data`` object (e.g. ``{"medicaments": [...]}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.upstreams.base import DAY, Bounds, HttpRequest, SinglePage, Upstream, expect_dict
from worker.upstreams.errors import InvalidAnswer, InvalidRequest

SUBSTANCE = "code_substance denominations dosage_substance reference_dosage nature_composant"
PRESENTATION = (
    "CIP7 CIP13 libelle taux_remboursement prix_sans_honoraires prix_avec_honoraires "
    "agrement_collectivites indications_remboursement"
)
MEDICAMENT = (
    "CIS denomination forme_pharmaceutique voies_administration statut_admin_AMM "
    "etat_commercialisation date_AMM surveillance_renforcee conditions_prescription titulaires "
    f"substances {{ {SUBSTANCE} }} presentations {{ {PRESENTATION} }}"
)
# root field -> (argument types, required arguments, selection)
ROOTS: dict[str, tuple[dict[str, str], tuple[str, ...], str]] = {
    "medicaments": ({"denomination": "StringFilter", "CIS": "[ID!]", "limit": "Int"}, (), MEDICAMENT),
    "medicament": ({"CIS": "ID!"}, ("CIS",), MEDICAMENT),
    "presentation": ({"CIP13": "ID!"}, ("CIP13",), f"{PRESENTATION} medicament {{ CIS denomination }}"),
    "substances": (
        {"denominations": "StringFilter!", "limit": "Int"},
        ("denominations",),
        f"{SUBSTANCE} medicaments {{ CIS denomination }}",
    ),
}


def build_query(root: str, variables: dict[str, Any]) -> str:
    """The GraphQL document asking ``root`` with exactly the variables given."""
    types, _required, selection = ROOTS[root]
    declared = ", ".join(f"${name}: {types[name]}" for name in sorted(variables))
    args = ", ".join(f"{name}: ${name}" for name in sorted(variables))
    head = f"query Mediflux({declared}) " if declared else "query Mediflux "
    return f"{head}{{ {root}{f'({args})' if args else ''} {{ {selection} }} }}"


class Bdpm(SinglePage):
    def build(self, base_url: str, endpoint: str, params: dict[str, Any]) -> HttpRequest:
        if endpoint not in ROOTS:
            raise InvalidRequest(f"bdpm: unknown root field {endpoint!r}; expected one of {', '.join(ROOTS)}")
        types, required, _ = ROOTS[endpoint]
        unknown = sorted(set(params) - set(types))
        if unknown:
            raise InvalidRequest(f"bdpm {endpoint}: unknown variables {', '.join(unknown)}")
        missing = [name for name in required if params.get(name) in (None, "", [])]
        if missing:
            raise InvalidRequest(f"bdpm {endpoint}: missing variables {', '.join(missing)}")
        limit = params.get("limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000):
            raise InvalidRequest(f"bdpm {endpoint}: limit must be a whole number from 1 to 1000")
        body = {"query": build_query(endpoint, params), "variables": params}
        return HttpRequest("POST", f"{base_url}/graphql", json_body=body, headers={"Content-Type": "application/json"})

    def validate(self, endpoint: str, doc: Any) -> Any:
        doc = expect_dict(doc, "GraphQL response")
        if doc.get("errors"):
            raise InvalidAnswer("GraphQL errors in response")
        data = doc.get("data")
        if not isinstance(data, dict) or endpoint not in data:
            raise InvalidAnswer(f"invalid shape: no data.{endpoint} in GraphQL response")
        value = data[endpoint]
        if value is not None and not isinstance(value, (dict, list)):
            raise InvalidAnswer(f"invalid shape: data.{endpoint} is neither an object nor a list")
        return {endpoint: value}

    def is_empty(self, endpoint: str, data: Any) -> bool:
        return not data.get(endpoint)

    def negative_on_404(self, endpoint: str) -> bool:
        return False  # a 404 on /graphql is a wrong base URL, not an absent medication


BDPM = Upstream(
    name="bdpm",
    api_version="graphql-1",
    adapter=Bdpm(),
    url_variable="BDPM_URL",
    default_url="",  # no official public API: not configured until MEDIFLUX_BDPM_URL is set
    ttl=Bounds(DAY, 60, 90 * DAY),  # no published refresh frequency: daily is a sound default
    stale=Bounds(7 * DAY, 0, 365 * DAY),
    rate=Bounds(10.0, 0.01, 1000),
)


@dataclass(frozen=True)
class FilesMirror:
    """BDPM's other door: the official tab-separated files, mirrored locally (worker/bdpm/, docs/bdpm.md).

    The default BDPM source: with zero configuration the mirror serves lookups; the GraphQL source above
    is used instead only when its ``BDPM_URL`` is set. ``url_variable`` is the base URL the file names
    are appended to; ``sync_variable`` how often the ``bdpm_sync`` job runs.
    """

    url_variable: str
    default_url: str
    sync_variable: str
    sync_default: Bounds  # seconds between syncs


BDPM_FILES = FilesMirror(
    url_variable="BDPM_FILES_URL",
    default_url="https://base-donnees-publique.medicaments.gouv.fr/download/file/",
    sync_variable="BDPM_SYNC_EVERY",
    sync_default=Bounds(DAY, 60, 30 * DAY),  # published about monthly; community mirrors poll daily
)
