"""Start the OCR child for one job and read its answer, with a watchdog: no line for a page's time limit
(plus a margin) and the child's whole process group is killed.

What comes back is the pages (text from a text layer, or Tesseract's hOCR), the facts the child noticed
(JavaScript, attachments: ignored) and timings; a refusal carries a quarantine reason. The child's stderr
is discarded: decoders may print what they read, and nothing of a document goes to the logs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import worker
from worker.config import Settings
from worker.ocr import tesseract, workspace

MARGIN_SECONDS = 30.0  # beyond the page limit: decoding, rendering, waiting for a slot
_SOURCE_ROOT = str(Path(worker.__file__).resolve().parent.parent)


class OcrRefused(Exception):
    """The input can never be OCRed (quarantine it); ``reason`` is a short code, the message has no content."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass
class ChildResult:
    pages: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    ms: float = 0.0


def child_config(settings: Settings, kind: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "langs": settings.ocr_langs,
        "dpi": settings.ocr_dpi,
        "page_seconds": settings.ocr_page_seconds,
        "memory_mb": settings.ocr_memory_mb,
        "max_pixels": settings.ocr_max_pixels,
        "max_pages": settings.ocr_max_pages,
        "processes": settings.ocr_processes,
        "slots": str(workspace.slots_dir(settings)),
        "parent": os.getpid(),
    }


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def run_child(data: bytes, kind: str, settings: Settings, folder: Path) -> ChildResult:
    """OCR ``data`` (an image or PDF of ``kind``) in a child process working in ``folder``.

    The child is started only once it has one of ``MEDIFLUX_OCR_PROCESSES`` machine-wide child places (flocks
    under ``<home>/ocr/children/``, like Tesseract's slots): however many consumers run, no more children decode
    uploads at once than the pool allows, each within its memory limit."""
    with tesseract.slot(workspace.children_dir(settings), settings.ocr_processes):
        return _run_child(data, kind, settings, folder)


def _run_child(data: bytes, kind: str, settings: Settings, folder: Path) -> ChildResult:
    _write_private(folder / "input", data)
    _write_private(folder / "config.json", json.dumps(child_config(settings, kind)).encode())
    # A minimal environment: the child decodes untrusted files and needs none of the worker's settings or
    # secrets (database URL, tokens); its limits come from config.json.
    env = tesseract.environment(str(folder)) | {
        "PYTHONPATH": os.pathsep.join(p for p in (_SOURCE_ROOT, os.environ.get("PYTHONPATH", "")) if p),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.ocr.child", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        cwd=folder,
        env=env,
        start_new_session=True,  # its own process group: the watchdog kills Tesseract with it
    )
    deadline = [time.monotonic() + settings.ocr_page_seconds + MARGIN_SECONDS]
    timed_out = threading.Event()
    finished = threading.Event()

    def watchdog() -> None:
        while not finished.wait(0.2):
            if time.monotonic() > deadline[0]:
                timed_out.set()
                _kill(proc)
                return

    guard = threading.Thread(target=watchdog, name="ocr-watchdog", daemon=True)
    guard.start()
    result = ChildResult()
    error: dict[str, Any] | None = None
    done = False
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            deadline[0] = time.monotonic() + settings.ocr_page_seconds + MARGIN_SECONDS
            line = json.loads(raw)
            if "error" in line:
                error = line
            elif line.get("done"):
                done, result.facts, result.ms = True, line.get("facts") or {}, float(line.get("ms") or 0)
            else:
                result.pages.append(line)
        proc.wait()
    except BaseException:
        _kill(proc)
        raise
    finally:
        finished.set()
        guard.join()
        if proc.stdout:
            proc.stdout.close()
    if error is not None:
        raise OcrRefused(str(error["error"]), str(error.get("message") or "refused"))
    if timed_out.is_set():
        raise OcrRefused("ocr_timeout", f"no progress for {settings.ocr_page_seconds + MARGIN_SECONDS:g} s")
    if not done:
        status = proc.returncode
        if status is not None and status < 0:
            raise OcrRefused("ocr_memory", f"the OCR process was stopped by signal {-status} (memory limit?)")
        raise OcrRefused("ocr_failed", f"the OCR process failed (status {status})")
    return result


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
