"""Tesseract, through its command line (Debian's ``tesseract-ocr``): one process per page, hOCR out.

Why the CLI and not a binding: pytesseract is the same CLI behind temporary files, and tesserocr needs
``libtesseract-dev`` and a compiler at install time; the CLI is the Debian-maintained binary, and a process
per page is what lets the worker bound each page's time, memory and CPU (and kill it) without touching its
own process. ``--psm 1`` is automatic page segmentation *with* orientation and script detection (``osd``):
a page photographed sideways or upside down is read upright in the same pass. ``OMP_THREAD_LIMIT=1``: one
core per process, the pool gives the parallelism.

The pool is machine-wide: before running, a page takes one of ``MEDIFLUX_OCR_PROCESSES`` slots, each an
``flock`` on a file under ``<home>/ocr/slots/`` (the kernel frees a slot when its holder dies, even by
SIGKILL), so any number of consumers share one bound.
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from models.private import private_dir

PSM = "1"
# Sauvola's adaptive threshold (Tesseract ≥ 5.0) instead of a global Otsu: phone photos under uneven light kept
# their dark half unreadable with Otsu (bench/make_image_corpus.py, variant uneven_light).
THRESHOLDING = ["-c", "thresholding_method=2"]
_PR_SET_PDEATHSIG = 1


class TesseractMissing(RuntimeError):
    """The ``tesseract`` program (or a language model) is not installed."""


def executable() -> str:
    found = shutil.which("tesseract")
    if not found:
        raise TesseractMissing("tesseract is not installed (Debian: apt-get install tesseract-ocr tesseract-ocr-fra)")
    return found


@functools.lru_cache(maxsize=1)
def version() -> str:
    """``5.3.0``: the first line of ``tesseract --version``."""
    out = subprocess.run([executable(), "--version"], capture_output=True, text=True, timeout=30, check=False)
    first = (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else ""
    return first.partition(" ")[2].strip() or "unknown"


def languages() -> set[str]:
    """Installed language models (``tesseract --list-langs``)."""
    out = subprocess.run([executable(), "--list-langs"], capture_output=True, text=True, timeout=30, check=False)
    return {line.strip() for line in out.stdout.splitlines()[1:] if line.strip()}


def health(langs: str) -> tuple[str, str, str | None]:
    """For ``mediflux doctor``: ("ok" | "fail", detail, fix) — Tesseract installed, with the models
    ``MEDIFLUX_OCR_LANGS`` names and ``osd`` (orientation)."""
    try:
        installed = languages()
        found = version()
    except (TesseractMissing, OSError, subprocess.SubprocessError) as exc:
        return "fail", str(exc), "apt-get install tesseract-ocr tesseract-ocr-fra tesseract-ocr-osd"
    missing = [m for m in [*langs.split("+"), "osd"] if m not in installed]
    if missing:
        packages = " ".join(f"tesseract-ocr-{m.replace('_', '-')}" for m in missing)
        return "fail", f"tesseract {found}: no model for {', '.join(missing)}", f"apt-get install {packages}"
    return "ok", f"tesseract {found} with {langs} and osd", None


def command(image: str, langs: str, dpi: int | None, fmt: str = "hocr") -> list[str]:
    """The command line for one page; the benchmark runs the same one as its raw baseline."""
    cmd = [executable(), image, "stdout", "-l", langs, "--psm", PSM, *THRESHOLDING]
    if dpi:
        cmd += ["--dpi", str(dpi)]
    return cmd + [fmt]


def environment(tmp: str) -> dict[str, str]:
    """Tesseract's environment: one thread, temporary files in the job's private folder, nothing else."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TESSDATA_PREFIX")}
    return env | {"OMP_THREAD_LIMIT": "1", "TMPDIR": tmp}


def _die_with_parent() -> None:  # runs in the forked child before exec (the OCR child is single-threaded)
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class PageFailed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def run_page(cmd: list[str], tmp: str, seconds: float) -> str:
    """Run one page's command; its hOCR. PageFailed on a timeout, a crash or a refusal."""
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            timeout=seconds,
            env=environment(tmp),
            cwd=tmp,
            preexec_fn=_die_with_parent,  # safe: the OCR child has one thread
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PageFailed("ocr_timeout", f"a page took longer than {seconds:g} s") from None
    if done.returncode < 0:
        sig = -done.returncode
        reason = "ocr_memory" if sig in (signal.SIGABRT, signal.SIGSEGV, signal.SIGKILL) else "ocr_failed"
        raise PageFailed(reason, f"tesseract was stopped by signal {sig} (memory or time limit)")
    if done.returncode != 0:
        raise PageFailed("ocr_failed", f"tesseract exited with status {done.returncode}")
    return done.stdout.decode("utf-8", "replace")


@contextmanager
def slot(folder: Path, count: int, poll: float = 0.02) -> Iterator[int]:
    """Hold one of ``count`` machine-wide OCR slots while the block runs (waits for a free one)."""
    private_dir(folder)
    fds: list[int] = []
    try:
        fds.extend(os.open(folder / f"slot-{i}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600) for i in range(count))
        while True:
            for index, fd in enumerate(fds):
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                try:
                    yield index
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                return
            time.sleep(poll)
    finally:
        for fd in fds:
            os.close(fd)
