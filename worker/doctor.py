"""``mediflux doctor``: check an installation and say, for each problem, how to fix it.

Checks only look: they create no file and apply no migration (a missing
database or queue is reported, not made), so the doctor can run beside live
processes and on a broken install. Permissions are checked before anything
opens the database (opening tightens modes, which would hide the problem).
Details name paths, counts and error types — never URLs' credentials or rows.
"""

from __future__ import annotations

import datetime as _dt
import shutil
import stat
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import peewee

from models import JobRun, Lease, PeriodicJob, db, migrator
from models.clock import utcnow
from models.database import BUSY_TIMEOUT_SECONDS, open_database, sqlite_path
from worker import heartbeat, opstate
from worker.bdpm.health import mirror_check
from worker.config import Settings, UpstreamSettings
from worker.errors import error_type, safe_error
from worker.ingest.health import INOTIFY, inotify_check
from worker.ocr import tesseract
from worker.upstreams.health import upstream_check

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
DISK_FAIL_BYTES, DISK_WARN_BYTES = 512 * 2**20, 2 * 2**30
CLOCK_SKEW = _dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sqlite_files(settings: Settings) -> list[Path]:
    files = []
    for url in (settings.database_url, settings.queue_url):
        path = sqlite_path(url)
        if path is not None:
            files += [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    return [p for p in files if p.exists()]


def check_permissions(settings: Settings) -> Check:
    """Data folder 0700 and SQLite files 0600: they hold health data."""
    if not settings.home.is_dir():
        return Check(
            "permissions",
            FAIL,
            f"data folder {settings.home} missing",
            "start any mediflux process (it creates the folder 0700) or check MEDIFLUX_HOME",
        )
    loose = []
    if stat.S_IMODE(settings.home.stat().st_mode) & 0o077:
        loose.append(f"{settings.home} is {stat.S_IMODE(settings.home.stat().st_mode):o}")
    for path in _sqlite_files(settings):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            loose.append(f"{path.name} is {mode:o}")
    if loose:
        return Check(
            "permissions",
            FAIL,
            "readable by others: " + ", ".join(loose),
            f"chmod 700 {settings.home} && chmod 600 {settings.home}/*.db*",
        )
    return Check("permissions", OK, "data folder 0700, database files 0600")


def check_inbox(settings: Settings) -> Check:
    inbox = settings.inbox
    if not inbox.is_dir():
        return Check("inbox", FAIL, f"{inbox} missing", f"mkdir -m 700 -p {inbox} (or start `mediflux watch`)")
    try:
        with tempfile.NamedTemporaryFile(dir=inbox, prefix=".doctor-", delete=True):
            pass
    except OSError as exc:
        return Check(
            "inbox",
            FAIL,
            f"{inbox} not writable ({exc.strerror})",
            f"give the worker's user write access: chown/chmod {inbox}",
        )
    return Check("inbox", OK, f"{inbox} exists and is writable")


def check_inotify(settings: Settings, proc: Path = INOTIFY) -> Check:
    """Enough inotify watches for every inbox folder (one each) and instances for the watcher."""
    return Check("inotify", *inotify_check(settings.inbox, settings.watch_polling, proc))


def _open_readonly_sqlite(path: Path) -> peewee.Database:
    """The SQLite file opened read-only (no pragma, no chmod, no WAL switch), bound to the models."""
    database = peewee.SqliteDatabase(
        f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_SECONDS, field_types={"UTCDATETIME": "TEXT"}
    )
    db.initialize(database)
    return database


def open_checked(settings: Settings) -> tuple[Check, peewee.Database | None]:
    """Reach the database without creating or changing it (SQLite: read-only)."""
    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        return Check(
            "database",
            FAIL,
            f"{path} does not exist",
            "run `mediflux migrate up` (or start the worker, which creates it)",
        ), None
    try:
        database = _open_readonly_sqlite(path) if path else open_database(settings.database_url)
        database.connect(reuse_if_open=True)
        database.execute_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001 — any driver error means "unreachable"
        return Check(
            "database",
            FAIL,
            f"unreachable: {safe_error(exc).split(':')[0]}",
            "check MEDIFLUX_DATABASE_URL and that the server runs",
        ), None
    kind = "SQLite " + str(path) if path else "PostgreSQL"
    return Check("database", OK, f"{kind} reachable"), database


def check_migrations(database: peewee.Database) -> Check:
    pending = migrator.pending(database)
    if pending:
        return Check(
            "migrations",
            FAIL,
            f"{len(pending)} pending: {', '.join(pending)}",
            "run `mediflux migrate up` (any mediflux process also applies them at start)",
        )
    return Check("migrations", OK, f"{len(migrator.status(database))} applied, none pending")


def check_wal(settings: Settings, database: peewee.Database) -> Check:
    if not settings.database_is_sqlite:
        return Check("wal", SKIP, "PostgreSQL: not applicable")
    mode = database.execute_sql("PRAGMA journal_mode").fetchone()[0]
    if str(mode).lower() != "wal":
        return Check(
            "wal", FAIL, f"journal_mode is {mode}", "stop every process, then start one: it sets journal_mode=wal"
        )
    return Check("wal", OK, "journal_mode=wal")


def check_queue(settings: Settings) -> Check:
    path = sqlite_path(settings.queue_url)
    if path is not None and not path.exists():
        return Check("queue", FAIL, f"{path} does not exist", "start the worker (Procfile `worker`)")
    try:
        queue = opstate.queue_state_of(settings)
    except Exception as exc:  # noqa: BLE001
        return Check(
            "queue",
            FAIL,
            f"unreachable: {safe_error(exc).split(':')[0]}",
            "check MEDIFLUX_QUEUE_URL and that Redis/PostgreSQL runs",
        )
    return Check("queue", OK, f"reachable: {queue['pending']} pending, {queue['scheduled']} scheduled")


def check_consumer(processes: dict[str, Any]) -> Check:
    alive = processes["consumers"]
    if not alive:
        return Check(
            "consumer",
            FAIL,
            f"no consumer heartbeat in the last {heartbeat.TTL.seconds // 60} min",
            "start the worker: `honcho start worker` (Procfile `worker`)",
        )
    return Check("consumer", OK, f"{len(alive)} alive (last beat {max(c['last_beat'] for c in alive)[:19]})")


def check_watcher(settings: Settings, processes: dict[str, Any]) -> Check:
    if not processes["watcher"]:
        return Check(
            "watcher",
            FAIL,
            f"no live watcher lease for {settings.inbox}",
            "start the watcher: `honcho start watcher` (`mediflux watch`)",
        )
    return Check("watcher", OK, "lease held")


def check_jobs(jobs: list[dict[str, Any]]) -> Check:
    """Periodic jobs failing run after run (they retry with backoff, so a warning, not a failure)."""
    failing = [j for j in jobs if j["consecutive_failures"]]
    if failing:
        return Check(
            "jobs",
            WARN,
            "; ".join(
                f"{j['name']} failed {j['consecutive_failures']} times in a row ({error_type(j['last_error'])})"
                for j in failing
            ),
            "see the job's last error in `mediflux status` (or the dashboard's Periodic jobs page)",
        )
    if not jobs:
        return Check("jobs", OK, "no periodic job recorded yet")
    return Check("jobs", OK, f"{len(jobs)} periodic jobs, none failing")


def check_cache(health: dict[str, dict[str, Any]]) -> Check:
    """Per source: entries, failing entries and the hit ratio (:func:`worker.opstate.hit_ratio`)."""
    if not health:
        return Check("cache", OK, "no cache entries or reads yet")
    detail = "; ".join(
        f"{source}: {h['fresh']} fresh, {h['stale']} stale, {h['expired']} expired, {h['failing']} failing, "
        f"hit ratio {opstate.percent(h['hit_ratio'])} of {h['served'] + h['misses']} reads"
        for source, h in health.items()
    )
    failing = [s for s, h in health.items() if h["failing"]]
    if failing:
        return Check(
            "cache",
            WARN,
            detail,
            f"upstream failing for {', '.join(failing)}: check it with `mediflux doctor --network` "
            "(stale entries are served meanwhile)",
        )
    return Check("cache", OK, detail)


def check_clock(database: peewee.Database, now: _dt.datetime) -> Check:
    """Our clock against the database server's, and no ledger row from the future."""
    if now.year < 2024:
        return Check("clock", FAIL, f"system time {now.isoformat()[:19]} is in the past", "fix NTP (timedatectl)")
    latest = [
        v
        for v in (
            JobRun.select(peewee.fn.MAX(JobRun.started_at)).scalar(),
            PeriodicJob.select(peewee.fn.MAX(PeriodicJob.last_started_at)).scalar(),
            Lease.select(peewee.fn.MAX(Lease.acquired_at)).scalar(),
        )
        if v
    ]
    latest = [JobRun.started_at.python_value(v) for v in latest]
    future = [v for v in latest if v > now + CLOCK_SKEW]
    if future:
        return Check(
            "clock",
            FAIL,
            f"the ledger has times up to {max(future).isoformat()[:19]}, later than now "
            f"({now.isoformat()[:19]}): the clock went back",
            "fix NTP (timedatectl)",
        )
    if isinstance(database, peewee.PostgresqlDatabase):
        server = database.execute_sql("SELECT now()").fetchone()[0]
        skew = abs(server.astimezone(_dt.UTC) - utcnow())
        if skew > CLOCK_SKEW:
            return Check(
                "clock",
                FAIL,
                f"database server clock differs by {int(skew.total_seconds())} s",
                "fix NTP on both machines",
            )
    return Check("clock", OK, f"UTC {now.isoformat()[:19]}, no ledger time in the future")


def check_disk(settings: Settings) -> Check:
    usage = shutil.disk_usage(settings.home if settings.home.exists() else settings.home.parent)
    free_gib = usage.free / 2**30
    share = usage.free / usage.total if usage.total else 0
    detail = f"{free_gib:.1f} GiB free ({share * 100:.0f} %) under {settings.home}"
    if usage.free < DISK_FAIL_BYTES or share < 0.02:
        return Check("disk", FAIL, detail, "free space: prune old data (retention) or grow the volume")
    if usage.free < DISK_WARN_BYTES or share < 0.10:
        return Check("disk", WARN, detail, "plan more space before SQLite writes start failing")
    return Check("disk", OK, detail)


def check_upstream(upstream: UpstreamSettings, timeout: float = 5.0) -> Check:
    """One upstream (``--network``): its URL configured, reachable, and its API key set when it declares one."""
    return Check(f"upstream {upstream.name}", *upstream_check(upstream, timeout))


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    """A ledger check; tables missing (never migrated) is reported, not raised."""
    try:
        return check()
    except peewee.PeeweeException as exc:
        return Check(
            name, FAIL, f"cannot read the ledger ({safe_error(exc).split(':')[0]})", "run `mediflux migrate up`"
        )


def run_checks(
    settings: Settings, network: bool = False, now: _dt.datetime | None = None, inotify: Path = INOTIFY
) -> list[Check]:
    """Every check, in order; database checks are skipped (with a reason) when it is unreachable."""
    now = now or utcnow()
    checks = [check_permissions(settings), check_inbox(settings), check_inotify(settings, inotify)]
    reached, database = open_checked(settings)
    checks.append(reached)
    if database is None:
        skipped = ("migrations", "wal", "consumer", "watcher", "jobs", "cache", "bdpm")
        checks += [Check(n, SKIP, "database unreachable") for n in skipped]
    else:
        checks += [check_migrations(database), check_wal(settings, database)]
        for name, check in (
            ("consumer", lambda: check_consumer(opstate.processes(settings, now))),
            ("watcher", lambda: check_watcher(settings, opstate.processes(settings, now))),
            ("jobs", lambda: check_jobs(opstate.periodic_jobs(None, now))),
            ("cache", lambda: check_cache(opstate.cache_health((), now))),
            ("bdpm", lambda: Check("bdpm", *mirror_check(db, _dt.timedelta(seconds=settings.bdpm_sync_every), now))),
        ):
            checks.append(_guarded(name, check))
    checks.append(check_queue(settings))
    if database is not None:
        checks.append(_guarded("clock", lambda: check_clock(database, now)))
        database.close()
    checks.append(check_disk(settings))
    checks.append(Check("ocr", *tesseract.health(settings.ocr_langs)))  # uploads wait in the inbox without it
    if network:
        checks += [check_upstream(upstream) for upstream in settings.upstreams.values()]
    return checks


def healthy(checks: list[Check]) -> bool:
    return all(c.status != FAIL for c in checks)
