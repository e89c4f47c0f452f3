"""``mediflux doctor``: is this installation healthy? One line per check, with the fix."""

from __future__ import annotations

import click

from worker import doctor as checks_
from worker.cli.output import echo_json
from worker.config import exit_on_config_error
from worker.logsetup import configure_logging


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option("--network", is_flag=True, help="Also check that the upstream APIs' base URLs answer (network calls).")
def doctor(as_json: bool, network: bool) -> None:
    """Check the inbox, inotify limits, database (reachable, migrated, WAL, file modes), queue,
    consumer and watcher liveness, failing periodic jobs, cache health, clock and free disk;
    print a fix for each problem.
    Creates nothing and migrates nothing. Exit code 1 when a check fails."""
    settings = exit_on_config_error()
    configure_logging(settings)
    results = checks_.run_checks(settings, network=network)
    ok = checks_.healthy(results)
    if as_json:
        echo_json({"ok": ok, "checks": [c.as_dict() for c in results]})
    else:
        width = max(len(c.name) for c in results)
        for c in results:
            line = f"{c.status.upper():<4}  {c.name:<{width}}  {c.detail}"
            click.echo(line + (f"\n      fix: {c.fix}" if c.fix and c.status in (checks_.FAIL, checks_.WARN) else ""))
        click.echo("healthy" if ok else "problems found")
    raise SystemExit(0 if ok else 1)
