"""``mediflux bdpm``: the local BDPM mirror — sync it, show its state, look a medicine up (docs/bdpm.md)."""

from __future__ import annotations

from typing import Any

import click

from models import db
from worker.bdpm import lookup, store
from worker.bdpm.status import mirror_status
from worker.bdpm.sync import sync
from worker.bdpm.verify import DEFAULT_GROWTH_GUARD, DEFAULT_SHRINK_GUARD
from worker.cli.context import local_runtime
from worker.cli.output import echo_json, echo_table

SHOWN_BAD = 5  # bad rows shown per file by the human-readable status (--json has the stored list)


@click.group(name="bdpm")
def bdpm_group() -> None:
    """The local BDPM mirror (official files, synced in the background): sync, status, search, get."""


@bdpm_group.command(name="sync")
@click.option(
    "--force", is_flag=True, help="Download every file again (no conditional request) and build a new version."
)
@click.option(
    "--accept-changes",
    is_flag=True,
    help=f"For this sync only, accept files that lost more than {DEFAULT_SHRINK_GUARD:.0%} or gained more than "
    f"{DEFAULT_GROWTH_GUARD:.0%} of their rows since the live version (once you checked that upstream really "
    "changed); every other check still applies.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def sync_command(force: bool, accept_changes: bool, as_json: bool) -> None:
    """Sync the mirror now from MEDIFLUX_BDPM_FILES_URL: download, verify, swap. A failed or suspicious sync
    keeps the current version and says why (exit code 1)."""
    runtime = local_runtime()
    result = sync(runtime.settings, force=force, accept_changes=accept_changes)
    if as_json:
        echo_json(result.as_dict())
    else:
        head = {"updated": f"version {result.version} is live", "unchanged": f"version {result.version}, unchanged"}
        click.echo(f"bdpm sync: {result.outcome}" + (f" — {head[result.outcome]}" if result.outcome in head else ""))
        for name, info in result.files.items():
            rows = (
                f", {info['rows']} rows, {info['bad_rows']} bad, {info['encoding']}/{info['line_ends']}"
                if "rows" in info
                else ""
            )
            click.echo(f"  {name}: {info.get('download')}{rows}")
        for note in result.notes:
            click.echo(f"  note: {note}")
        for warning in result.warnings:
            click.echo(f"  warning: {warning}")
    if result.outcome not in ("updated", "unchanged"):
        kept = "the current version stays" if result.previous is not None else "the mirror stays empty"
        raise click.ClickException(f"{result.outcome}: {result.error or 'see above'} ({kept})")


@bdpm_group.command(name="status")
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
def status_command(as_json: bool) -> None:
    """Version, rows, bad rows and encoding per file, the last sync and its error, when the next is due."""
    runtime = local_runtime()
    state = mirror_status(db, runtime.jobs["bdpm_sync"].interval if "bdpm_sync" in runtime.jobs else None)
    if as_json:
        echo_json(state)
        return
    if state["empty"]:
        click.echo("mirror: empty (no sync has succeeded yet)")
    else:
        stale = " — STALE" if state["stale"] else ""
        click.echo(f"mirror: version {state['version']}, {state['rows']} rows, loaded {state['loaded_at']}{stale}")
    click.echo(
        f"last sync: {state['last_outcome'] or 'never'} at {state['last_attempt_at'] or '-'}; "
        f"last good: {state['last_success_at'] or '-'}; next due: {state['next_due_at'] or '-'}"
    )
    if state["last_error"]:
        good = state["last_outcome"] in ("updated", "unchanged")  # then it is a warning: an optional file failed
        click.echo(f"{'last sync warning' if good else 'last error'}: {state['last_error']}")
    echo_table(
        ("file", "rows", "bad", "encoding", "line ends"),
        [(f["name"], f["rows"], f["bad_rows"], f["encoding"], f["line_ends"]) for f in state["files"]],
    )
    for f in state["files"]:
        if f["bad_rows"]:
            click.echo(f"{f['name']}: {f['bad_rows']} bad rows")
            for bad in f["bad"][:SHOWN_BAD]:
                click.echo(f"  line {bad['line']}: {_short(bad['reason'])}")
            if f["bad_rows"] > SHOWN_BAD:
                more = f["bad_rows"] - SHOWN_BAD
                click.echo(f"  … {more} more (`mediflux bdpm status --json` lists the first {len(f['bad'])})")
        for warning in f["warnings"]:
            click.echo(f"{f['name']}: warning: {_short(warning)}")
    for note in state["notes"]:
        click.echo(f"note: {_short(note)}")
    for warning in state["warnings"]:
        click.echo(f"warning: {_short(warning)}")


def _short(text: str, width: int = 160) -> str:
    """One short line: a reason or note is the report's own text, cut if long."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@bdpm_group.command(name="get")
@click.argument("code", metavar="CIS_OR_CIP")
@click.option("--json", "as_json", is_flag=True, help="Print the medicament as JSON.")
def get_command(code: str, as_json: bool) -> None:
    """The medicament with this CIS (8 digits) or of the box with this CIP13 / CIP7 (13 or 7 digits)."""
    local_runtime()
    code = "".join(code.split())
    if not code.isdigit() or len(code) not in (7, 8, 13):
        raise click.BadParameter("a CIS has 8 digits, a CIP 7 or 13", param_hint="CIS_OR_CIP")
    found = store.get_medicine(db, code)
    if found is None:
        empty = store.current_version(db) is None
        raise click.ClickException(
            "the BDPM mirror is empty: run `mediflux bdpm sync`" if empty else f"no medicine {code}"
        )
    if as_json:
        echo_json(found)
        return
    click.echo(f"{found['CIS']}  {found['denomination']}")
    for label, key in (("form", "forme_pharmaceutique"), ("state", "etat_commercialisation")):
        if found.get(key):
            click.echo(f"  {label}: {found[key]}")
    if found.get("voies_administration"):
        click.echo(f"  routes: {', '.join(found['voies_administration'])}")
    for s in found.get("substances", []):
        click.echo(f"  substance: {s['denominations'][0]} {s['dosage_substance'] or ''} ({s['nature_composant']})")
    if found.get("groupe_generique"):
        click.echo(
            f"  generic group: {found['groupe_generique']['libelle']} ({found['groupe_generique']['type_libelle']})"
        )
    for c in found.get("conditions_prescription", []):
        click.echo(f"  condition: {c}")
    boxes = [found["presentation"]] if "presentation" in found else found.get("presentations", [])
    for p in boxes:
        click.echo(
            f"  box {p['CIP13']}: {p['libelle']} {p['taux_remboursement'] or ''} {p['prix_avec_honoraires'] or ''}"
        )


@bdpm_group.command(name="search")
@click.argument("text")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100), help="Candidates to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the candidates as JSON.")
def search_command(text: str, limit: int, as_json: bool) -> None:
    """Specialities matching a prescription line ("Xanax 0,25 mg cp sécable", "AMOXICILLINE 1g"), best first,
    with their score (matched: at or above the threshold) and generic group."""
    local_runtime()
    if store.current_version(db) is None:
        raise click.ClickException("the BDPM mirror is empty: run `mediflux bdpm sync`")
    found = lookup.search(db, text, limit)
    if as_json:
        echo_json(found)
        return
    if not found:
        click.echo("no candidate")
    echo_table(
        ("CIS", "score", "matched", "denomination", "generic group"),
        [(c["cis"], f"{c['score']:.2f}", "yes" if c["matched"] else "no", c["denomination"], _group(c)) for c in found],
    )


def _group(candidate: dict[str, Any]) -> str:
    group = candidate.get("generic_group")
    return "" if not group else f"{group['id']} ({group['type_label']})"
