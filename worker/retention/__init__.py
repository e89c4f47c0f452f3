"""Retention: expiry sweeps, retention pruning, per-user erasure and export (GDPR).

One module per concern: ``policies`` (what is kept how long), ``chunks`` (short
delete transactions under a time budget), ``space`` (incremental vacuum, WAL
checkpoint), ``paths`` (user ids that cannot escape the data folders),
``sweep``, ``prune``, ``erase``, ``export``.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from worker.config import Settings
    from worker.periodic import JobContext


def job_settings(ctx: "JobContext") -> "Settings":
    """Settings for a periodic job: passed in ``resources`` (tests), else the process's bootstrapped ones."""
    settings = ctx.resources.get("settings")
    if settings is None:
        from worker.runtime import bootstrap  # cached: the consumer bootstrapped at import

        settings = bootstrap().settings
    return settings
