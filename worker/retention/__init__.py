"""Retention: expiry sweeps, retention pruning, per-user erasure and export (GDPR).

One module per concern: ``policies`` (what is kept how long), ``chunks`` (short
delete transactions under a time budget), ``space`` (incremental vacuum, WAL
checkpoint), ``paths`` (user ids that cannot escape the data folders),
``sweep``, ``prune``, ``erase``, ``export``.
"""
