"""``mediflux access-log USER_ID``: the person's right of access to the traces of who read their data.

Also the ``--actor`` / ``--purpose`` options other commands that read a user's data share (``export-user``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from worker.access import history
from worker.access.labels import InvalidLabel, check_label
from worker.access.trail import record_once
from worker.cli.context import local_runtime
from worker.cli.output import echo_json, echo_table
from worker.cli.params import user_id as user_id_param


def label(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: an access-log actor or purpose (worker.access.labels), or a usage error (exit 2)."""
    if value is None:
        return None
    try:
        return check_label(str(param.name), value)
    except InvalidLabel as exc:
        raise click.BadParameter(exc.problem) from None


ACTOR = click.option(
    "--actor", callback=label, help="Who reads, for the access log (default: MEDIFLUX_ACCESS_ACTOR, else operator)."
)


def purpose_option(default: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--purpose", default=default, show_default=True, callback=label, help="Why, for the access log."
    )


@click.command("access-log")
@click.argument("user_id", callback=user_id_param)
@ACTOR
@purpose_option("right_of_access")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def access_log(user_id: str, actor: str | None, purpose: str, as_json: bool) -> None:
    """Print who read USER_ID's data, why and when (oldest first, UTC): actor, purpose, resource kind,
    channel. The log holds no data and not the id (only a keyed hash of it); this reading is traced too."""
    runtime = local_runtime()
    report = history.report(runtime.settings, user_id)
    record_once(
        runtime.settings, runtime.database, [user_id], "access_log", channel="cli", actor=actor, purpose=purpose
    )
    if as_json:
        echo_json(report)
        return
    entries = report["entries"]
    click.echo(
        f"{len(entries)} access(es) recorded; traces are kept {report['retention_days']} days "
        "and hold who, why and when, never the data"
    )
    if entries:
        echo_table(
            ["time (UTC)", "actor", "purpose", "resource", "channel"],
            [[e["at"][:19].replace("T", " "), e["actor"], e["purpose"], e["resource"], e["channel"]] for e in entries],
        )
