"""Chunked deletes: many short transactions instead of one long one, under a time budget.

A single ``DELETE ... WHERE`` over a million rows holds SQLite's write lock for
its whole duration (every writer waits) and grows the WAL by gigabytes. Here each
chunk is one short transaction deleting by primary key
(``id IN (SELECT id ... LIMIT n)``: ``DELETE ... LIMIT`` is not portable), the
cutoff is fixed by the caller once per run, and the loop stops when the
deadline passes. Deleting by condition is naturally resumable: a killed or
interrupted run leaves whole chunks done and the rest for the next run.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import peewee

from models import db

DEFAULT_CHUNK = 200  # rows per transaction at most (~2 MB of 2–20 KB cache rows)
TARGET_MS = 50.0  # a chunk that takes longer halves the next one (down to MIN_CHUNK); a fast one doubles it back
MIN_CHUNK = 10
YIELD_RATIO = 0.5  # pause this fraction of each chunk's time, so waiting writers get the lock (no starvation)
MAX_PAUSE = 0.05


@dataclass
class ChunkStats:
    """What a chunked delete did: rows, transactions (their durations), and whether it finished."""

    deleted: int = 0
    chunks: int = 0
    longest_ms: float = 0.0
    complete: bool = True
    tx_ms: list[float] = field(default_factory=list, repr=False)

    def record(self, count: int, elapsed_ms: float) -> None:
        self.chunks += 1
        self.deleted += count
        self.longest_ms = max(self.longest_ms, elapsed_ms)
        if len(self.tx_ms) < 100_000:
            self.tx_ms.append(elapsed_ms)

    def p99_ms(self) -> float:
        ordered = sorted(self.tx_ms)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0


@contextlib.contextmanager
def short_transaction() -> Iterator[None]:
    """``db.atomic()`` that reports the real error when SQLite already rolled back by itself.

    On a full disk (SQLITE_FULL) or an I/O error SQLite rolls the transaction
    back on its own; peewee's rollback then fails with "no transaction is
    active", which would hide the cause ("database or disk is full").
    """
    try:
        with db.atomic():
            yield
    except peewee.OperationalError as exc:
        if "no transaction is active" not in str(exc):
            raise
        cause = exc.__context__
        while cause is not None and "no transaction is active" in str(cause):
            cause = cause.__context__
        if cause is None:
            raise
        raise peewee.OperationalError(*cause.args) from None


def out_of_time(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def delete_chunked(
    table: Any,
    pk: peewee.Field | peewee.Column,
    where: peewee.Expression,
    *,
    chunk: int = DEFAULT_CHUNK,
    deadline: float | None = None,
    before_delete: Callable[[Sequence[Any]], None] | None = None,
    on_chunk: Callable[[int], None] | None = None,
    yield_ratio: float = YIELD_RATIO,
    target_ms: float | None = TARGET_MS,
) -> ChunkStats:
    """Delete rows of ``table`` matching ``where``, ``chunk`` at a time, until none match or time is up.

    ``table`` is a model or a ``peewee.Table``. With ``before_delete`` each chunk's
    ids are selected first and passed to it inside the chunk's transaction (to
    fold rows into a summary, or delete dependent rows, atomically with them).
    The chunk size adapts to keep each transaction near ``target_ms`` (rows vary
    from 2 to 20 KB, disks and load vary more), never above ``chunk``.
    Between chunks the loop pauses ``yield_ratio`` × the chunk's duration: SQLite's
    busy handler polls with growing sleeps, and a writer waiting on the lock would
    otherwise miss every gap of a tight delete loop.
    """
    stats = ChunkStats()
    size = chunk
    while True:
        if out_of_time(deadline):
            stats.complete = False
            return stats
        t0 = time.perf_counter()
        with short_transaction():
            if before_delete is None:
                subquery = table.select(pk).where(where).limit(size)
                count = table.delete().where(pk.in_(subquery)).execute()
            else:
                ids = [row[0] for row in table.select(pk).where(where).limit(size).tuples()]
                if ids:
                    before_delete(ids)
                    table.delete().where(pk.in_(ids)).execute()
                count = len(ids)
        elapsed = (time.perf_counter() - t0) * 1000
        if count:
            stats.record(count, elapsed)
            if on_chunk is not None:
                on_chunk(count)
        if count < size:
            return stats
        if target_ms is not None:
            if elapsed > target_ms:
                size = max(min(MIN_CHUNK, chunk), size // 2)
            elif elapsed < target_ms / 4:
                size = min(chunk, size * 2)
        if yield_ratio > 0:
            time.sleep(min(MAX_PAUSE, elapsed / 1000 * yield_ratio))
