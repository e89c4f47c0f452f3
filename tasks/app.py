"""The huey instance the consumer runs (``huey_consumer tasks.huey``) and the app enqueues on.

Importing it bootstraps the process: settings (exit 2 on a bad one), database,
migrations. Task modules import ``huey`` from here.
"""

from __future__ import annotations

from worker.queue import build_huey
from worker.runtime import bootstrap

runtime = bootstrap()
huey = build_huey(runtime.settings)
