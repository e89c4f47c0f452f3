"""One sync of the mirror: download, parse, load a shadow version, verify, swap — or keep the old and say why.

``sync(settings)`` is the plain function behind the ``bdpm_sync`` periodic job (:func:`run`) and
``mediflux bdpm sync``. One sync at a time across processes (lease ``bdpm:sync``). The files of the live
version are kept in ``<home>/bdpm/files/`` (what a 304 stands for); a download lands in
``<home>/bdpm/incoming/`` and replaces the live copy only after its version went live.

Outcomes: ``updated`` (a new version is live), ``unchanged`` (every file answered 304 or the same bytes),
``rejected`` (downloaded but suspicious: cut short, too many bad rows, shrunk or grown, inconsistent — the old
version stays, or the mirror stays empty),
``failed`` (a required file could not be downloaded, or the load broke), ``busy`` (another sync runs).
"""

from __future__ import annotations

import datetime as _dt
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from models import db
from models.bdpm import BdpmFileState, BdpmVersion
from models.clock import utcnow
from models.private import private_dir
from worker import leases
from worker.bdpm import download, store, versions
from worker.bdpm.download import DownloadError, Fetched, Validators
from worker.bdpm.files import FILES
from worker.bdpm.parse import ParsedFile, Snapshot, parse_file
from worker.bdpm.verify import DEFAULT_GROWTH_GUARD, DEFAULT_SHRINK_GUARD, verify
from worker.config import Settings
from worker.errors import safe_error
from worker.periodic import JobContext

log = logging.getLogger("mediflux.bdpm")
LEASE = "bdpm:sync"
LEASE_TTL = _dt.timedelta(minutes=15)  # renewed after each file and each step, so a dead sync frees it soon
BAD_ROW_LIMIT = 0.05  # a file with more bad rows than this is not loaded


@dataclass
class SyncResult:
    outcome: str
    version: int | None = None
    previous: int | None = None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # optional files that failed: the sync went on without them
    duration_s: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds spent downloading, parsing, loading…

    def mark(self, phase: str, since: float) -> float:
        now = time.monotonic()
        self.phases[phase] = round(self.phases.get(phase, 0.0) + now - since, 3)
        return now

    @property
    def error(self) -> str | None:
        return "; ".join(self.problems) if self.problems else None

    @property
    def warning(self) -> str | None:
        """What a good sync records in ``last_error``, so that an optional file's failure stays visible."""
        return " | ".join(self.warnings) if self.warnings else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "version": self.version,
            "previous": self.previous,
            "files": self.files,
            "problems": self.problems,
            "notes": self.notes,
            "warnings": self.warnings,
            "duration_s": round(self.duration_s, 3),
            "phases": self.phases,
        }


def folders(settings: Settings) -> tuple[Path, Path]:
    """The live copies and the staging folder, under the data folder."""
    base = settings.home / "bdpm"
    return base / "files", base / "incoming"


def _validators() -> dict[str, Validators]:
    return {r.name: Validators(r.etag, r.last_modified, r.sha256) for r in BdpmFileState.select()}


def _download(
    settings: Settings,
    live: Path,
    staging: Path,
    force: bool,
    known: dict[str, Validators],
    result: SyncResult,
    renew: Callable[[], None],
) -> dict[str, Fetched]:
    fetched: dict[str, Fetched] = {}
    with download.client() as client:
        for spec in FILES:
            renew()
            try:
                got = download.fetch(
                    client,
                    settings.bdpm_files_url,
                    spec.name,
                    staging,
                    live / spec.name,
                    known.get(spec.name),
                    force=force,
                )
            except DownloadError as exc:
                kept = live / spec.name
                result.files[spec.name] = {"download": "failed", "reason": exc.reason}
                if spec.required:
                    result.problems.append(str(exc))
                    break  # no version without it: the other files are not fetched
                elif kept.is_file() and spec.name in known:
                    result.warnings.append(f"{exc}; the last good copy is used")
                    fetched[spec.name] = Fetched(
                        spec.name,
                        "not_modified",
                        kept,
                        known[spec.name].sha256,
                        kept.stat().st_size,
                        known[spec.name].etag,
                        known[spec.name].last_modified,
                    )
                else:
                    result.warnings.append(f"{exc}; loaded without it")
                continue
            same = got.status == "fetched" and spec.name in known and known[spec.name].sha256 == got.sha256
            fetched[spec.name] = got
            result.files[spec.name] = {"download": "unchanged" if same else got.status, "bytes": got.size}
    return fetched


def _changed(fetched: dict[str, Fetched], known: dict[str, Validators]) -> bool:
    return any(
        f.status == "fetched" and (f.name not in known or known[f.name].sha256 != f.sha256) for f in fetched.values()
    )


def _parse(fetched: dict[str, Fetched], result: SyncResult) -> Snapshot:
    parsed: dict[str, ParsedFile] = {}
    for spec in FILES:
        got = fetched.get(spec.name)
        if got is None:
            continue
        p = parse_file(got.path, spec)
        parsed[spec.name] = p
        rep = p.report
        result.files[spec.name].update(
            rows=rep.rows,
            bad_rows=rep.bad_rows,
            encoding=rep.encoding,
            line_ends=rep.line_ends,
            warnings=list(rep.warnings),
        )
        if not rep.final_newline:  # every official file ends with one: this copy was cut, maybe mid-row
            result.problems.append(f"{spec.name}: no newline at the end of the file: it may be cut short")
        total = rep.rows + rep.bad_rows
        if total and rep.bad_rows / total > BAD_ROW_LIMIT:
            result.problems.append(f"{spec.name}: {rep.bad_rows} bad rows of {total} (at most {BAD_ROW_LIMIT:.0%})")
    return Snapshot(parsed)


def _remember(fetched: dict[str, Fetched], live: Path, now: _dt.datetime) -> None:
    """After the swap: the downloaded files become the live copies, with their validators."""
    for got in fetched.values():
        download.promote(got, live)
        values = dict(etag=got.etag, last_modified=got.last_modified, sha256=got.sha256, size=got.size, checked_at=now)
        if got.status == "fetched":
            values["fetched_at"] = now
        with db.atomic():
            updated = BdpmFileState.update(values).where(BdpmFileState.name == got.name).execute()
            if not updated:
                BdpmFileState.insert(**{"fetched_at": now, **values, "name": got.name}).execute()


def _previous_checks(current: int | None) -> tuple[dict[str, int] | None, dict[str, float] | None]:
    if current is None:
        return None, None
    row = BdpmVersion.get_or_none(BdpmVersion.id == current)
    if row is None:
        return None, None
    return dict(row.counts or {}), dict((row.report or {}).get("checks", {}).get("orphans", {})) or None


def sync(
    settings: Settings,
    *,
    force: bool = False,
    shrink_guard: float | None = None,
    growth_guard: float | None = None,
    accept_changes: bool = False,
) -> SyncResult:
    """Bring the mirror up to date with the official files (see the module's outcomes). Never raises for a bad
    download or bad content: the result says what happened and the old version keeps serving. The row-count
    guards default to :mod:`worker.bdpm.verify`'s; ``accept_changes`` skips them for this sync only (an operator
    who checked that upstream really shrank or grew); every other check still applies."""
    t0 = time.monotonic()
    holder = leases.new_holder_id()
    if not leases.acquire(LEASE, holder, LEASE_TTL):
        return SyncResult("busy", notes=["another sync is running"])
    guards: dict[str, float | None] = {
        "shrink_guard": DEFAULT_SHRINK_GUARD if shrink_guard is None else shrink_guard,
        "growth_guard": DEFAULT_GROWTH_GUARD if growth_guard is None else growth_guard,
    }
    if accept_changes:
        guards = {"shrink_guard": None, "growth_guard": None}
    try:
        result = _sync_locked(settings, force, guards, lambda: _renew(holder))
    finally:
        leases.release(LEASE, holder)
    result.duration_s = time.monotonic() - t0
    log.info("bdpm sync: %s (version %s) in %.1f s", result.outcome, result.version, result.duration_s)
    return result


def _renew(holder: str) -> None:
    if not leases.renew(LEASE, holder, LEASE_TTL):
        raise RuntimeError("the bdpm:sync lease was lost (the sync took too long)")


def _sync_locked(
    settings: Settings, force: bool, guards: dict[str, float | None], renew: Callable[[], None]
) -> SyncResult:
    now = utcnow()
    live, staging = folders(settings)
    shutil.rmtree(staging, ignore_errors=True)
    private_dir(staging)
    versions.prune(db)  # leftovers of an interrupted sync
    current, _ = versions.live_versions(db)
    result = SyncResult("failed", previous=current)
    t = time.monotonic()
    known = _validators()
    try:
        fetched = _download(settings, live, staging, force, known, result, renew)
    except (OSError, httpx.HTTPError) as exc:
        result.problems.append(f"download: {safe_error(exc)}")
        fetched = {}
    t = result.mark("download", t)
    if result.problems:
        versions.record_outcome(db, "failed", result.error)
        return result
    if current is not None and not force and not _changed(fetched, known):
        result.outcome, result.version = "unchanged", current
        _remember(fetched, live, now)
        versions.record_outcome(db, "unchanged", result.warning)
        return result
    renew()
    snapshot = _parse(fetched, result)
    t = result.mark("parse", t)
    renew()
    if result.problems:
        result.outcome = "rejected"
        versions.record_outcome(db, "rejected", result.error)
        return result
    version = versions.begin_version(db)
    try:
        counts = store.load(db, version, snapshot)
        t = result.mark("load", t)
        renew()
        before, before_orphans = _previous_checks(current)
        check = verify(db, version, before, before_orphans, **guards)
    except Exception as exc:  # noqa: BLE001 — a broken load leaves the live version untouched
        versions.reject(db, version, f"load failed: {safe_error(exc)}")
        versions.record_outcome(db, "failed", f"load failed: {safe_error(exc)}")
        result.problems.append(f"load failed: {safe_error(exc)}")
        return result
    t = result.mark("verify", t)
    if guards["shrink_guard"] is None and guards["growth_guard"] is None:
        result.notes.append("row-count guards skipped for this sync (changes accepted)")
    result.notes.extend(check.notes)
    versions.describe(
        db,
        version,
        counts,
        {
            "files": snapshot.reports(),
            "checks": check.as_dict(),
            "downloads": result.files,
            "notes": result.notes,
            "warnings": result.warnings,
        },
    )
    if not check.ok:
        result.outcome, result.problems = "rejected", list(check.problems)
        versions.reject(db, version, result.error or "rejected")
        versions.prune(db)
        return result
    result.previous = versions.swap(db, version, warning=result.warning)
    t = result.mark("swap", t)
    result.outcome, result.version = "updated", version
    _remember(fetched, live, now)
    versions.prune(db)
    result.mark("prune", t)
    return result


def mirror_empty() -> bool:
    """True while no version is live: the job is then due at once at start-up."""
    try:
        return store.current_version(db) is None
    except Exception:  # noqa: BLE001 — before the migration, the table may not exist
        return False


def run(ctx: JobContext) -> dict[str, Any]:
    """The ``bdpm_sync`` periodic job. A failed download raises (the job is retried with backoff); a rejected
    version does not (the same files would be rejected again until upstream publishes new ones)."""
    result = sync(ctx.settings)
    if result.outcome == "failed":
        raise RuntimeError(f"bdpm sync failed: {result.error}")
    return {"outcome": result.outcome, "version": result.version, "problems": result.problems[:5]}
