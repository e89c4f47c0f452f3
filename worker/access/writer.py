"""Access-log rows kept in memory and inserted together: one transaction (one fsync) per interval, not per read.

A trace per read written in the read's own call would turn every profile read into a durable write
(an fdatasync of the WAL on SQLite: milliseconds against a read's fraction of one). So readers only
append to a list; a daemon thread inserts what is waiting every ``interval`` seconds, or sooner when
``batch`` rows wait, in one transaction on its own connection; :meth:`BufferedWriter.close` stops the
thread and inserts the rest, so a clean stop loses none. A failed insert keeps its rows for the next
try. ``interval=0`` writes each trace before the read returns (:attr:`synchronous`). What a hard crash
(SIGKILL, power cut) may lose is at most the last interval's traces, never data.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable
from typing import Any

import peewee

from models import AccessLog
from worker.errors import safe_error

log = logging.getLogger("mediflux.access")
INSERT_CHUNK = 500  # 6 columns × 500 rows: far under SQLite's bound-parameter limit

Row = dict[str, Any]


COLUMNS = ("at", "user_key", "actor", "purpose", "resource", "channel")


def _statement(database: peewee.Database, rows: list[Row]) -> tuple[str, list[Any]]:
    """One multi-row INSERT, built directly: peewee's insert_many costs ~35 µs of CPU per row (the GIL the
    app's readers need), this a few. Values go through the columns' own conversion (UTC text or timestamptz)."""
    fields = [getattr(AccessLog, c) for c in COLUMNS]
    group = "(" + ", ".join([database.param] * len(COLUMNS)) + ")"
    sql = f"INSERT INTO access_log ({', '.join(COLUMNS)}) VALUES " + ", ".join([group] * len(rows))
    return sql, [f.db_value(row[c]) for row in rows for c, f in zip(COLUMNS, fields)]


class BufferedWriter:
    """Rows for ``access_log`` inserted on ``database`` (a sync database: pooled or per thread).

    ``lock``: held while inserting (the sync data API's in-process write queue on SQLite, so API writers
    and the flush take turns instead of meeting in SQLite's busy handler).
    """

    def __init__(
        self,
        database: peewee.Database,
        interval: float,
        *,
        batch: int = 1000,
        lock: Any = None,
        owns_database: bool = False,
    ) -> None:
        self.database = database
        self.interval = interval
        self.batch = batch
        self._write_lock = lock
        self._owns_database = owns_database
        self._rows: list[Row] = []
        self._lock = threading.Lock()  # guards _rows and the thread's start
        self._flushing = threading.Lock()  # one insert at a time, in order
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def synchronous(self) -> bool:
        """True when each trace must be inserted before the read returns (interval 0, or after close)."""
        return self.interval <= 0 or self._stopping

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._rows)

    def add(self, rows: Iterable[Row]) -> None:
        """Queue rows (cheap: no I/O). The caller flushes itself when :attr:`synchronous`."""
        with self._lock:
            self._rows.extend(rows)
            waiting = len(self._rows)
            if not self.synchronous and self._thread is None:
                self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
                self._thread.start()
        if waiting >= self.batch:
            self._wake.set()

    def flush(self) -> int:
        """Insert every waiting row in one transaction; on a database error keep them and re-raise."""
        with self._flushing:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                with self._write_lock if self._write_lock is not None else contextlib.nullcontext():
                    self._insert(rows)
            except BaseException:
                with self._lock:
                    self._rows[:0] = rows
                raise
            return len(rows)

    def _insert(self, rows: list[Row]) -> None:
        opened = self.database.is_closed()
        if opened:
            self.database.connect()
        try:
            with self.database.atomic():
                for start in range(0, len(rows), INSERT_CHUNK):
                    self.database.execute_sql(*_statement(self.database, rows[start : start + INSERT_CHUNK]))
        finally:
            if opened and not self.database.in_transaction():
                self.database.close()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopping:
                return
            try:
                self.flush()
            except Exception as exc:  # noqa: BLE001 — kept for the next tick; the message names no row
                log.warning("access log: %s traces not written yet, retried: %s", self.pending, safe_error(exc))

    def close(self) -> None:
        """Stop the thread and insert what is left (a clean stop loses no trace). Later traces are synchronous."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        try:
            self.flush()
        finally:
            if self._owns_database:
                close_all = getattr(self.database, "close_all", None)  # playhouse.pool's
                if close_all is not None:
                    close_all()
                else:
                    self.database.close()
