"""``mediflux cache``: read through the API cache, refresh it, and show its statistics."""

from __future__ import annotations

import json
from typing import Any

import click

from worker import cache
from worker.cache import refresh as cache_refresh
from worker.cache.stats import summary
from worker.cli.context import local_runtime
from worker.cli.output import echo_json, echo_table
from worker.cli.progress import progress


def _param(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise click.BadParameter(f"expected key=value, got {text!r}", param_hint="PARAMS")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)  # limit=10 → 10, filter='{"contains_one_of": ["x"]}' → object
    except ValueError:
        value = raw
    return key, value


@click.group(name="cache")
def cache_group() -> None:
    """Read BDPM, Annuaire Santé and Odissé through the cache; refresh it; show its statistics."""


@cache_group.command(name="get")
@click.argument("source", type=click.Choice(cache.SOURCES))
@click.argument("endpoint")
@click.argument("params", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help='Print {"data": ..., "meta": {...}}.')
def get_command(source: str, endpoint: str, params: tuple[str, ...], as_json: bool) -> None:
    """Answer ENDPOINT of SOURCE with PARAMS (key=value; values may be JSON) from the cache, fetching
    it if needed, and show its freshness. Examples: `cache get odisse DATASET limit=10`,
    `cache get bdpm medicaments 'denomination={"contains_one_of":["doliprane"]}'`,
    `cache get annuaire Practitioner family=martin`."""
    local_runtime()
    try:
        result = cache.get(source, endpoint, dict(_param(p) for p in params))
    except cache.InvalidRequest as exc:
        raise click.UsageError(str(exc)) from None
    except cache.CacheUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    meta = result.meta.as_dict()
    if as_json:
        echo_json({"data": result.data, "meta": meta})
        return
    flag = " (served stale: upstream failing)" if meta["stale_because_error"] else ""
    click.echo(
        f"{source} {endpoint}: {meta['status']}{flag}, age {meta['age_seconds']:.0f}s, "
        f"fetched {meta['fetched_at']}, fresh until {meta['fresh_until']}"
        + (", negative (404/empty)" if meta["negative"] else ""),
        err=True,
    )
    echo_json(result.data)


@cache_group.command(name="refresh")
@click.argument("source", required=False, type=click.Choice(cache.SOURCES))
@click.option("--force", is_flag=True, help="Revalidate every entry, not only stale or nearly stale ones.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome counts as JSON.")
def refresh_command(source: str | None, force: bool, as_json: bool) -> None:
    """Refresh stale and nearly stale entries of SOURCE (default: all) now, with conditional requests."""
    local_runtime()
    with progress("refreshing cache entries") as bar:
        outcomes = cache_refresh.refresh_many(
            [source] if source else cache.SOURCES, force=force, recently_read=False, on_done=lambda _: bar.update()
        )
    if as_json:
        echo_json(outcomes)
    else:
        click.echo(", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())) or "nothing to refresh")


@cache_group.command(name="stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def stats_command(as_json: bool) -> None:
    """Entries fresh/stale/expired per source, hit ratio, misses, stale served and upstream errors."""
    local_runtime()
    data = summary()
    if as_json:
        echo_json(data)
        return
    echo_table(
        [
            "source",
            "fresh",
            "stale",
            "expired",
            "negative",
            "hit ratio",
            "hits",
            "misses",
            "stale served",
            "upstream calls",
            "upstream errors",
            "rejected",
        ],
        [
            [
                s,
                d["fresh"],
                d["stale"],
                d["expired"],
                d["negative"],
                d["hit_ratio"],
                d["hits"],
                d["misses"],
                d["stale_served"],
                d["upstream_calls"],
                d["upstream_errors"],
                d["rejected"],
            ]
            for s, d in data.items()
        ],
    )
