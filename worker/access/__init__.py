"""Access traces: who read which user's data, why, and when (table ``access_log``, docs/privacy.md).

``labels`` (actor and purpose: what they may be), ``writer`` (rows buffered and inserted in one
transaction per interval), ``trail`` (what the data API, the CLI, the dashboard and erasure call),
``history`` (one person's traces, for ``mediflux access-log``). Nothing here holds the data read.
"""
