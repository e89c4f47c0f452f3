"""``mediflux migrate``: show or move the schema version (normally automatic at start)."""

from __future__ import annotations

import click

from models import migrator
from worker.cli.context import local_runtime
from worker.cli.output import echo_json, echo_table


@click.group(invoke_without_command=True)
@click.option("--status", "show_status", is_flag=True, help="List migrations and whether each is applied.")
@click.option("--json", "as_json", is_flag=True, help="With --status: print JSON.")
@click.pass_context
def migrate(ctx: click.Context, show_status: bool, as_json: bool) -> None:
    """Apply pending migrations (same as `migrate up`), or show them with --status."""
    if ctx.invoked_subcommand is not None:
        return
    if show_status:
        database = local_runtime(migrate=False).database
        with database.connection_context():
            rows = migrator.status(database)
        data = [
            {"name": m.name, "applied": m.applied.isoformat() + "Z" if m.applied else None, "file": bool(m.path)}
            for m in rows
        ]
        if as_json:
            echo_json(data)
        else:
            echo_table(["migration", "applied (UTC)"], [[d["name"], d["applied"] or "pending"] for d in data])
        return
    ctx.invoke(up)


def _move(step, target: str | None, done: str, nothing: str) -> None:
    database = local_runtime(migrate=False).database
    try:
        names = step(database, target)
    except migrator.MigrationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{done}: " + ", ".join(names) if names else nothing)


@migrate.command()
@click.argument("target", required=False)
def up(target: str | None) -> None:
    """Apply pending migrations, up to TARGET if given."""
    _move(migrator.upgrade, target, "applied", "schema is up to date")


@migrate.command()
@click.argument("target", required=False)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def down(target: str | None, yes: bool) -> None:
    """Revert the latest migration, or every one back through TARGET (drops data)."""
    if not yes:
        click.confirm("Reverting a migration can drop tables and data. Continue?", abort=True)
    _move(migrator.downgrade, target, "reverted", "nothing to revert")
