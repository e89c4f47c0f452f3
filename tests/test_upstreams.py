"""Each upstream is declared once: one more, declared here, is picked up by the settings, the policy, the
fetch and the doctor with no other edit; keys and the CLI follow the registry."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest

from worker import doctor
from worker.cache import ApiCacheClient, fetch
from worker.cache.errors import InvalidAnswer, InvalidRequest
from worker.cache.keys import API_VERSIONS, SOURCES, canonical_json
from worker.cache.policy import policy_for
from worker.cache.stats import summary
from worker.cli.cache import get_command, refresh_command
from worker.config import ConfigError, load_settings
from worker.upstreams import UPSTREAMS, Bounds, HttpRequest, Upstream, registry
from worker.upstreams.base import DAY, SinglePage

SECRET = "extra-s3cret"


class Items(SinglePage):
    """A made-up upstream declared in this test: ``GET <base>/items/<id>`` answers ``{"id": ..., "name": ...}``."""

    def build(self, base_url: str, endpoint: str, params: dict[str, Any]) -> HttpRequest:
        if not endpoint.startswith("items/") or params:
            raise InvalidRequest("extra: endpoint must be items/<id>, without parameters")
        return HttpRequest("GET", f"{base_url}/{endpoint}", headers={"Accept": "application/json"})

    def validate(self, endpoint: str, doc: Any) -> Any:
        if not isinstance(doc, dict) or "name" not in doc:
            raise InvalidAnswer("invalid shape: expected an item")
        return doc

    def is_empty(self, endpoint: str, data: Any) -> bool:
        return False

    def negative_on_404(self, endpoint: str) -> bool:
        return True


EXTRA = Upstream(
    name="extra",
    api_version="items-1",
    adapter=Items(),
    url_variable="EXTRA_URL",
    default_url="",
    secret_variable="EXTRA_TOKEN",
    secret_header="X-Extra-Key",
    ttl=Bounds(3600, 60, DAY),
    stale=Bounds(DAY, 0, 7 * DAY),
    rate=Bounds(2.0, 0.1, 3.0),
    page_cap=Bounds(4, 1, 10),
)
WITH_EXTRA = (*UPSTREAMS.values(), EXTRA)


class _Items(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        type(self).seen.append(dict(self.headers))
        body = json.dumps({"id": self.path.rsplit("/", 1)[-1], "name": "seven"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def items_url() -> Iterator[str]:
    _Items.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Items)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/"
    finally:
        server.shutdown()
        server.server_close()


def test_one_more_upstream_is_read_from_its_own_variables():
    defaults = load_settings({}, WITH_EXTRA).upstreams
    assert list(defaults) == [*SOURCES, "extra"]
    own = defaults["extra"]
    assert (own.url, own.secret, own.ttl, own.stale, own.rate, own.page_cap) == ("", "", 3600, DAY, 2.0, 4)
    assert defaults["bdpm"] == load_settings({}).upstreams["bdpm"]  # the three others are unchanged
    env = {
        "MEDIFLUX_EXTRA_URL": "https://items.example/api",
        "MEDIFLUX_EXTRA_TOKEN": SECRET,
        "MEDIFLUX_CACHE_TTL_EXTRA": "2h",
        "MEDIFLUX_CACHE_STALE_EXTRA": "3d",
        "MEDIFLUX_CACHE_RATE_EXTRA": "2.5",
        "MEDIFLUX_EXTRA_PAGE_CAP": "7",
    }
    settings = load_settings(env, WITH_EXTRA)
    own = settings.upstreams["extra"]
    assert (own.url, own.secret, own.ttl, own.stale, own.rate, own.page_cap) == (
        "https://items.example/api",
        SECRET,
        7200,
        3 * DAY,
        2.5,
        7,
    )
    assert SECRET not in repr(settings) and hash(settings) == hash(load_settings(env, WITH_EXTRA))
    assert "extra" not in load_settings({}).upstreams  # the registry alone is read by default


@pytest.mark.parametrize(
    "variable, value, problem",
    [
        ("MEDIFLUX_CACHE_RATE_EXTRA", "5", "must be between 0.1 and 3, got 5"),
        ("MEDIFLUX_CACHE_TTL_EXTRA", "2d", "must be between 60s and 86400s"),
        ("MEDIFLUX_EXTRA_PAGE_CAP", "0", "must be between 1 and 10, got 0"),
        ("MEDIFLUX_EXTRA_URL", "ftp://items", "unsupported scheme 'ftp'"),
        ("MEDIFLUX_EXTRA_TOKEN", f"{SECRET} with spaces", "value not shown"),
    ],
)
def test_its_bounds_are_checked_and_name_its_variable(variable, value, problem):
    with pytest.raises(ConfigError) as info:
        load_settings({variable: value}, WITH_EXTRA)
    assert str(info.value).startswith(f"{variable}: ") and problem in str(info.value)
    assert SECRET not in str(info.value)


def test_its_policy_and_fetch_follow_the_declaration(database, items_url):
    settings = load_settings({"MEDIFLUX_EXTRA_URL": items_url, "MEDIFLUX_EXTRA_TOKEN": SECRET}, WITH_EXTRA)
    policy = ApiCacheClient(settings).policies["extra"]
    assert policy == policy_for(settings, "extra")
    assert (policy.base_url, policy.ttl, policy.rate, policy.page_cap) == (items_url.rstrip("/"), 3600, 2.0, 4)
    assert policy.url_variable == "MEDIFLUX_EXTRA_URL" and SECRET not in repr(policy)
    with httpx.Client() as client:
        fetched = fetch.run(fetch.plan(policy, "items/7", {}), client)
    assert fetched.data == {"id": "7", "name": "seven"}
    assert _Items.seen[-1].get("X-Extra-Key") == SECRET  # the declared header carries the declared secret
    keyless = policy_for(load_settings({"MEDIFLUX_EXTRA_URL": items_url}, WITH_EXTRA), "extra")
    with httpx.Client() as client:
        fetch.run(fetch.plan(keyless, "items/8", {}), client)
    assert "X-Extra-Key" not in _Items.seen[-1]


def test_the_doctor_checks_it(home, items_url):
    keyless = load_settings({"MEDIFLUX_HOME": str(home), "MEDIFLUX_EXTRA_URL": items_url}, (EXTRA,))
    assert not any(c.name.startswith("upstream") for c in doctor.run_checks(keyless))  # no network unless asked
    checks = {c.name: c for c in doctor.run_checks(keyless, network=True) if c.name.startswith("upstream")}
    assert list(checks) == ["upstream extra"]
    check = checks["upstream extra"]
    assert check.status == "warn" and "MEDIFLUX_EXTRA_TOKEN is not set" in check.detail
    assert check.fix is not None and "X-Extra-Key" in check.fix and "/api" not in check.detail
    keyed = load_settings({"MEDIFLUX_EXTRA_URL": items_url, "MEDIFLUX_EXTRA_TOKEN": SECRET}, (EXTRA,))
    ok = doctor.check_upstream(keyed.upstreams["extra"])
    assert ok.status == "ok" and "HTTP 200" in ok.detail and SECRET not in ok.detail
    unset = doctor.check_upstream(load_settings({}, (EXTRA,)).upstreams["extra"])
    assert unset.status == "skip" and unset.detail == "MEDIFLUX_EXTRA_URL not set"


def test_keys_stats_and_the_cli_follow_the_registry(database):
    assert tuple(UPSTREAMS) == SOURCES and {"bdpm", "annuaire", "odisse"} <= set(SOURCES)
    assert {name: up.api_version for name, up in UPSTREAMS.items()} == API_VERSIONS
    for name, up in UPSTREAMS.items():
        assert f'"v":"{up.api_version}"' in canonical_json(name, "x", {})
    with pytest.raises(InvalidRequest, match=f"expected one of {', '.join(SOURCES)}$"):
        canonical_json("extra", "items/7", {})  # keys know the registry only
    assert list(summary()) == list(SOURCES)
    for command in (get_command, refresh_command):
        assert list(command.params[0].type.choices) == list(SOURCES)  # type: ignore[attr-defined]


def test_a_declaration_is_checked_when_made():
    with pytest.raises(ValueError, match="outside"):
        Bounds(20, 0.01, 16.9)
    with pytest.raises(ValueError, match="both its variable and its header"):
        Upstream(
            name="half",
            api_version="1",
            adapter=Items(),
            url_variable="HALF_URL",
            default_url="",
            secret_variable="HALF_KEY",
            ttl=Bounds(60, 60, 60),
            stale=Bounds(0, 0, 0),
            rate=Bounds(1, 1, 1),
        )
    with pytest.raises(ValueError, match="share a name"):
        registry(EXTRA, EXTRA)
    with pytest.raises(ValueError, match="share a name"):
        load_settings({}, (EXTRA, EXTRA))
    every = [v for up in UPSTREAMS.values() for v in up.variables]
    assert len(every) == len(set(every))  # no two sources read the same variable
