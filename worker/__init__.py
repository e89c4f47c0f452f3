"""mediflux-worker: the background worker and data layer of Mediflux.

Domain code lives here (configuration, queue factory, periodic-job bookkeeping,
CLI); it depends on ``models`` and never on ``tasks``.
"""

__version__ = "0.1.0"
