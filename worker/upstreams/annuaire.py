"""Annuaire Santé (FHIR R4, ANS gateway v2): endpoint = resource type (search) or ``Type/id`` (read).

Search answers are ``Bundle`` pages linked by ``next``; pages are followed up to the
page cap and merged into one Bundle (its ``next`` link is kept when the cap stopped us).
``OperationOutcome`` is an error. The API key travels as the ``ESANTE-API-KEY`` header,
added by the fetch to every page (a secret header: never stored or logged).
"""

from __future__ import annotations

import re
from typing import Any

from worker.upstreams.base import DAY, Bounds, HttpRequest, Upstream, expect_dict, same_origin
from worker.upstreams.errors import InvalidAnswer, InvalidRequest

RESOURCE_TYPES = ("Practitioner", "PractitionerRole", "Organization", "HealthcareService")
_ENDPOINT = re.compile(r"^({})(?:/([A-Za-z0-9\-.]{{1,64}}))?$".format("|".join(RESOURCE_TYPES)))
FHIR_JSON = "application/fhir+json"


def _flatten(params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for name in sorted(params):
        value = params[name]
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, (dict, list)) or v is None:
                raise InvalidRequest(f"annuaire: search parameter {name!r} must be a string, number or boolean")
            out.append((name, str(v).lower() if isinstance(v, bool) else str(v)))
    return tuple(out)


class Annuaire:
    def build(self, base_url: str, endpoint: str, params: dict[str, Any]) -> HttpRequest:
        match = _ENDPOINT.match(endpoint)
        if not match:
            raise InvalidRequest(f"annuaire: endpoint must be one of {', '.join(RESOURCE_TYPES)} or Type/id")
        if match.group(2) and params:
            raise InvalidRequest("annuaire: a read (Type/id) takes no search parameters")
        count = params.get("_count")
        if count is not None and (not str(count).isdigit() or not 1 <= int(count) <= 1000):
            raise InvalidRequest("annuaire: _count must be a whole number from 1 to 1000")
        return HttpRequest("GET", f"{base_url}/{endpoint}", params=_flatten(params), headers={"Accept": FHIR_JSON})

    def validate(self, endpoint: str, doc: Any) -> Any:
        doc = expect_dict(doc, "FHIR response")
        kind = doc.get("resourceType")
        if kind == "OperationOutcome":
            raise InvalidAnswer("FHIR OperationOutcome instead of a result")
        if "/" in endpoint:
            if kind != endpoint.split("/", 1)[0]:
                raise InvalidAnswer(f"invalid shape: expected a {endpoint.split('/', 1)[0]}")
            return doc
        if kind != "Bundle" or not isinstance(doc.get("entry", []), list):
            raise InvalidAnswer("invalid shape: expected a FHIR Bundle")
        return doc

    def next_request(self, first: HttpRequest, doc: Any) -> HttpRequest | None:
        links = doc.get("link") if isinstance(doc, dict) else None
        for link in links or []:
            if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
                if not same_origin(first.url, link["url"]):
                    raise InvalidAnswer("paging link points to another host")
                return HttpRequest("GET", link["url"], headers=first.headers, secret_headers=first.secret_headers)
        return None

    def merge(self, pages: list[Any]) -> Any:
        if len(pages) == 1 or pages[0].get("resourceType") != "Bundle":
            return pages[0]
        merged = dict(pages[0])
        merged["entry"] = [e for page in pages for e in page.get("entry", [])]
        last_next = [link for link in pages[-1].get("link", []) if link.get("relation") == "next"]
        merged["link"] = [link for link in pages[0].get("link", []) if link.get("relation") == "self"] + last_next
        return merged

    def is_empty(self, endpoint: str, data: Any) -> bool:
        return data.get("resourceType") == "Bundle" and not data.get("entry")

    def negative_on_404(self, endpoint: str) -> bool:
        return "/" in endpoint  # a read of an unknown id


ANNUAIRE = Upstream(
    name="annuaire",
    api_version="fhir-r4-v2/1",
    adapter=Annuaire(),
    url_variable="ANNUAIRE_URL",
    default_url="https://gateway.api.esante.gouv.fr/fhir/v2",
    secret_variable="ANNUAIRE_API_KEY",
    secret_header="ESANTE-API-KEY",
    ttl=Bounds(DAY, 60, 90 * DAY),  # RPPS data is updated daily
    stale=Bounds(3 * DAY, 0, 365 * DAY),
    rate=Bounds(15.0, 0.01, 16.9),  # the ANS gateway allows 17 calls/s per application: stay below
    page_cap=Bounds(10, 1, 200),
)
