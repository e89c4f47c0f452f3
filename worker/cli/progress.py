"""Progress for long commands: a bar with rate and ETA on a terminal, plain periodic lines otherwise.

Every long command (``ingest --now``, ``reanalyze``, ``prune``, ``copy-db``, cache warm-up) reports
through :func:`progress`, so an operator watching a terminal sees a live bar and a log collector
(not a terminal) gets one readable line every few seconds instead of carriage-return noise. Both
end with a summary line. Output goes to stderr so ``--json`` output on stdout stays parseable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

import click

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Counts work done against an optional total; use as a context manager, call :meth:`update`."""

    def __init__(
        self,
        label: str,
        total: int | None,
        *,
        stream: TextIO | None = None,
        interval: float = 5.0,
        enabled: bool = True,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.interval = interval
        self.enabled = enabled
        self.tty = self.stream.isatty() if tty is None else tty
        self._clock = clock
        self._bar: ProgressBar[int] | None = None
        self._t0 = clock()
        self._last_line = self._t0

    def __enter__(self) -> Progress:
        self._t0 = self._last_line = self._clock()
        if self.enabled and self.tty:
            self._bar = click.progressbar(
                length=self.total,
                label=self.label,
                file=self.stream,
                show_eta=True,
                show_percent=self.total is not None,
                show_pos=True,
                item_show_func=lambda _: self._rate_text(),
            )
            self._bar.__enter__()
        return self

    def _rate_text(self) -> str:
        elapsed = self._clock() - self._t0
        return f"{self.done / elapsed:.1f}/s" if elapsed > 0 else ""

    @property
    def rate(self) -> float:
        elapsed = self._clock() - self._t0
        return self.done / elapsed if elapsed > 0 else 0.0

    def update(self, n: int = 1) -> None:
        """Record ``n`` more items done."""
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n, current_item=self.done)
            return
        now = self._clock()
        if now - self._last_line >= self.interval:
            self._last_line = now
            self._line(self._status())

    def _status(self) -> str:
        rate = self.rate
        if self.total:
            pct = 100.0 * self.done / self.total
            eta = (self.total - self.done) / rate if rate > 0 else None
            eta_text = f", ETA {_duration(eta)}" if eta is not None else ""
            return f"{self.label}: {self.done}/{self.total} ({pct:.0f}%), {rate:.1f}/s{eta_text}"
        return f"{self.label}: {self.done}, {rate:.1f}/s"

    def _line(self, text: str) -> None:
        click.echo(text, file=self.stream)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)
        if self.enabled:
            elapsed = self._clock() - self._t0
            outcome = "stopped" if exc_type else "done"
            self._line(f"{self.label}: {outcome}, {self.done} in {_duration(elapsed)} ({self.rate:.1f}/s)")


def progress(label: str, total: int | None = None, *, enabled: bool = True, interval: float = 5.0) -> Progress:
    """A :class:`Progress` on stderr; ``enabled=False`` keeps it silent (e.g. under ``--quiet``)."""
    return Progress(label, total, enabled=enabled, interval=interval)
