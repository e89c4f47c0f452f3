"""`mediflux cache get/refresh/stats` as real subprocesses against the fake upstreams; cache settings."""

from __future__ import annotations

import json

import pytest

from tests.conftest import _clean_env, run_cli
from tests.upstreams.fixtures import _counts_stay_in_their_test, annuaire, bdpm, cache_env, odisse  # noqa: F401
from worker.cache import InvalidRequest, cache_key
from worker.cache.keys import normalize_params
from worker.config import ConfigError, load_settings

FILTER = 'denomination={"contains_one_of": ["doliprane"]}'


def test_get_stats_refresh(cache_env, bdpm):
    first = run_cli(cache_env, "cache", "get", "bdpm", "medicaments", FILTER, "limit=5", "--json")
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["data"]["medicaments"][0]["CIS"] == "60234100"
    assert doc["meta"]["status"] == "fresh" and doc["meta"]["from_cache"] is False and doc["meta"]["source"] == "bdpm"
    human = run_cli(cache_env, "cache", "get", "bdpm", "medicaments", FILTER, "limit=5")
    assert human.returncode == 0 and "bdpm medicaments: fresh" in human.stderr and '"CIS": "60234100"' in human.stdout
    assert bdpm.total == 1
    stats = run_cli(cache_env, "cache", "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    s = json.loads(stats.stdout)["bdpm"]
    assert (s["fresh"], s["hits"], s["misses"], s["upstream_calls"], s["hit_ratio"]) == (1, 1, 1, 1, 0.5)
    table = run_cli(cache_env, "cache", "stats")
    assert "hit ratio" in table.stdout and "odisse" in table.stdout
    refreshed = run_cli(cache_env, "cache", "refresh", "bdpm", "--force", "--json")
    assert refreshed.returncode == 0, refreshed.stderr
    assert json.loads(refreshed.stdout) == {"updated": 1} and bdpm.total == 2


def test_cli_errors_are_clear(cache_env, odisse):
    bad = run_cli(cache_env, "cache", "get", "odisse", "covid-19-vaccination", "limit=101")
    assert bad.returncode == 2 and "limit must be from 1 to 100" in bad.stderr
    unset = {k: v for k, v in cache_env.items() if k != "MEDIFLUX_BDPM_URL"}
    missing = run_cli(unset, "cache", "get", "bdpm", "medicaments", FILTER)
    assert missing.returncode == 1 and "MEDIFLUX_BDPM_URL" in missing.stderr
    assert odisse.total == 0


def test_a_bad_key_stops_the_command_without_echoing_it(tmp_path):
    env = _clean_env() | {"MEDIFLUX_HOME": str(tmp_path), "MEDIFLUX_ANNUAIRE_API_KEY": "abc def-s3cret"}
    secret = run_cli(env, "cache", "stats")
    lines = secret.stderr.strip().splitlines()
    assert secret.returncode == 2 and len(lines) == 1 and "MEDIFLUX_ANNUAIRE_API_KEY" in lines[0]
    assert "s3cret" not in secret.stderr + secret.stdout


@pytest.mark.parametrize(
    "variable, value",
    [
        ("MEDIFLUX_CACHE_TTL_BDPM", "soon"),
        ("MEDIFLUX_CACHE_TTL_ODISSE", "5"),
        ("MEDIFLUX_CACHE_STALE_ANNUAIRE", "-1d"),
        ("MEDIFLUX_CACHE_RATE_ANNUAIRE", "20"),
        ("MEDIFLUX_CACHE_TIMEOUT", "0"),
        ("MEDIFLUX_CACHE_MAX_BODY_MB", "big"),
        ("MEDIFLUX_ANNUAIRE_PAGE_CAP", "0"),
        ("MEDIFLUX_BDPM_URL", "ftp://bdpm"),
        ("MEDIFLUX_ODISSE_URL", "odisse"),
        ("MEDIFLUX_CACHE_NEGATIVE_TTL", "2d"),
        ("MEDIFLUX_ANNUAIRE_API_KEY", "s3cret value with spaces"),
    ],
)
def test_bad_cache_settings_name_the_variable(variable, value):
    with pytest.raises(ConfigError) as info:
        load_settings({variable: value})
    assert str(info.value).startswith(variable + ":") and "s3cret" not in str(info.value)


def test_durations_and_defaults():
    s = load_settings({"MEDIFLUX_CACHE_TTL_BDPM": "12h", "MEDIFLUX_CACHE_STALE_ODISSE": "2w"})
    up = s.upstreams
    assert (up["bdpm"].ttl, up["annuaire"].ttl, up["odisse"].ttl) == (43200, 86400, 7 * 86400)
    assert hash(s) == hash(load_settings({"MEDIFLUX_CACHE_TTL_BDPM": "12h", "MEDIFLUX_CACHE_STALE_ODISSE": "2w"}))
    assert up["odisse"].stale == 14 * 86400 and up["annuaire"].rate < 17
    assert up["bdpm"].url == "" and up["annuaire"].url == "https://gateway.api.esante.gouv.fr/fhir/v2"
    assert (up["annuaire"].page_cap, up["bdpm"].page_cap) == (10, 1)
    keyed = load_settings({"MEDIFLUX_ANNUAIRE_API_KEY": "k3y"})
    assert keyed.upstreams["annuaire"].secret == "k3y" and "k3y" not in repr(keyed)


def test_keys_are_canonical_nfc_and_secret_free():
    composed, decomposed = "paracétamol", "parace\u0301tamol"
    assert composed != decomposed
    a = cache_key(
        "bdpm", "medicaments", normalize_params({"limit": 5, "denomination": {"contains_one_of": [composed]}})
    )
    b = cache_key(
        "bdpm", "medicaments", normalize_params({"denomination": {"contains_one_of": [decomposed]}, "limit": 5})
    )
    assert a == b and len(a) == 64
    assert a != cache_key("odisse", "medicaments", normalize_params({"limit": 5}))
    for secret in ({"ESANTE-API-KEY": "x"}, {"token": "x"}, {"where": {"Authorization": "x"}}):
        with pytest.raises(InvalidRequest):
            normalize_params(secret)


@pytest.mark.parametrize(
    "params",
    [
        {"CIS": "60234100"},
        {"limit": 5, "denomination": {"contains_one_of": ["parace\u0301tamol", "é", 'a"b\\c']}},
        {"where": "region = '11'", "refine": ["a", "b"], "offset": 0, "x": [1, -2, 2.5, 1e300, True, False, None, []]},
    ],
)
def test_canonical_text_is_sorted_compact_nfc_json(params):
    from worker.cache.keys import canonical_json, key_and_params

    clean = normalize_params(params)
    reference = json.dumps(
        {"v": "graphql-1", "s": "bdpm", "e": "medicaments", "p": clean},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert canonical_json("bdpm", "medicaments", params) == reference
    assert key_and_params("bdpm", "medicaments", params) == (cache_key("bdpm", "medicaments", clean), clean)
