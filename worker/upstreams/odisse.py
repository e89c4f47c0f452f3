"""Odissé (OpenDataSoft Explore v2.1): endpoint = dataset id, params = where/select/order_by/refine/limit/offset.

The API refuses ``limit`` > 100 and ``offset + limit`` > 10,000 with HTTP 400: both are
checked here, before any call. The cached data is ``{"total_count": N, "results": [...]}``.
"""

from __future__ import annotations

import re
from typing import Any

from worker.upstreams.base import DAY, Bounds, HttpRequest, SinglePage, Upstream, expect_dict
from worker.upstreams.errors import InvalidAnswer, InvalidRequest

MAX_LIMIT = 100
MAX_WINDOW = 10_000
DEFAULT_LIMIT = 10  # the API's own default
TEXT_PARAMS = ("where", "select", "order_by", "group_by", "lang", "timezone")
LIST_PARAMS = ("refine", "exclude")
_DATASET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]{0,127}$")


def _whole(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidRequest(f"odisse: {name} must be a whole number >= 0")
    return value


class Odisse(SinglePage):
    def build(self, base_url: str, endpoint: str, params: dict[str, Any]) -> HttpRequest:
        if not _DATASET.match(endpoint):
            raise InvalidRequest("odisse: endpoint must be a dataset id (letters, digits, '-', '_', '.')")
        unknown = sorted(set(params) - set(TEXT_PARAMS) - set(LIST_PARAMS) - {"limit", "offset"})
        if unknown:
            raise InvalidRequest(f"odisse: unknown parameters {', '.join(unknown)}")
        limit, offset = _whole(params, "limit", DEFAULT_LIMIT), _whole(params, "offset", 0)
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidRequest(f"odisse: limit must be from 1 to {MAX_LIMIT}")
        if offset + limit > MAX_WINDOW:
            raise InvalidRequest(f"odisse: offset + limit must be <= {MAX_WINDOW} (use the exports endpoint)")
        query: list[tuple[str, str]] = []
        for name in TEXT_PARAMS:
            if name in params:
                if not isinstance(params[name], str):
                    raise InvalidRequest(f"odisse: {name} must be a string")
                query.append((name, params[name]))
        for name in LIST_PARAMS:
            values = params.get(name, [])
            for v in values if isinstance(values, list) else [values]:
                if not isinstance(v, str):
                    raise InvalidRequest(f"odisse: {name} must be a string or a list of strings")
                query.append((name, v))
        query += [("limit", str(limit)), ("offset", str(offset))]
        return HttpRequest(
            "GET",
            f"{base_url}/catalog/datasets/{endpoint}/records",
            params=tuple(query),
            headers={"Accept": "application/json"},
        )

    def validate(self, endpoint: str, doc: Any) -> Any:
        doc = expect_dict(doc, "records response")
        total, results = doc.get("total_count"), doc.get("results")
        if not isinstance(total, int) or isinstance(total, bool) or not isinstance(results, list):
            raise InvalidAnswer("invalid shape: expected total_count and results")
        return {"total_count": total, "results": results}

    def is_empty(self, endpoint: str, data: Any) -> bool:
        return not data["results"]

    def negative_on_404(self, endpoint: str) -> bool:
        return True  # unknown dataset


ODISSE = Upstream(
    name="odisse",
    api_version="explore-v2.1/1",
    adapter=Odisse(),
    url_variable="ODISSE_URL",
    default_url="https://odisse.santepubliquefrance.fr/api/explore/v2.1",
    ttl=Bounds(7 * DAY, 60, 90 * DAY),
    stale=Bounds(30 * DAY, 0, 365 * DAY),
    rate=Bounds(5.0, 0.01, 1000),  # quotas are per portal: be modest
)
