"""The OCR child: ``python -m worker.ocr.child JOB_DIR``, the only process that decodes an uploaded file.

It limits itself before touching the input (``resource.setrlimit``: address space ``MEDIFLUX_OCR_MEMORY_MB``,
inherited by Tesseract), lowers its priority (ingestion and analysis of dropped OCR results keep the CPU
they need), dies with its parent (``PR_SET_PDEATHSIG``: a SIGKILLed consumer leaves no OCR running), then
reads ``JOB_DIR/input`` page by page (:mod:`pages`) and writes one JSON line per page on stdout, then a
``done`` line, or an ``error`` line with a quarantine reason (``decode_failed`` for a decoder exception
nothing foresaw: the exception's type only, never its message). Page text only ever travels on that pipe.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

from worker.ocr import tesseract
from worker.ocr.pages import InputPage, Refusal, image_pages, pdf_pages

NICENESS = 10


def limit_self(memory_mb: int, parent: int) -> None:
    """Address-space limit, lower priority, death with the parent (checked: it may already be gone)."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crashing decoder leaves no core dump of health data
    os.nice(NICENESS)
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _ocr(page: InputPage, job: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    image = job / f"page-{page.number:04d}.pgm"
    page.image.save(image)
    page.image = None
    prepared = time.perf_counter()
    with tesseract.slot(Path(cfg["slots"]), int(cfg["processes"])):
        waited = time.perf_counter()
        hocr = tesseract.run_page(
            tesseract.command(str(image), cfg["langs"], page.dpi), str(job), float(cfg["page_seconds"])
        )
    done = time.perf_counter()
    image.unlink(missing_ok=True)
    return {
        "page": page.number,
        "source": "ocr",
        "hocr": hocr,
        "info": page.info,
        "ms": {
            "prepare": round((prepared - t0) * 1000, 1),
            "wait": round((waited - prepared) * 1000, 1),
            "ocr": round((done - waited) * 1000, 1),
        },
    }


def run(job: Path, cfg: dict[str, Any]) -> int:
    """OCR ``job/input``; 0 when every page was emitted, 3 after an ``error`` line."""
    kind = cfg["kind"]
    facts: dict[str, Any] = {}
    t0 = time.perf_counter()
    try:
        if kind == "pdf":
            pages = pdf_pages(str(job / "input"), cfg["dpi"], cfg["max_pixels"], cfg["max_pages"], facts)
        else:
            pages = image_pages(str(job / "input"), kind, cfg["max_pixels"], cfg["max_pages"])
        count = 0
        decode_start = time.perf_counter()
        for page in pages:
            decoded = time.perf_counter()
            if page.text is not None:
                _emit({"page": page.number, "source": "text_layer", "text": page.text, "info": page.info})
            else:
                line = _ocr(page, job, cfg)
                line["ms"]["decode"] = round((decoded - decode_start) * 1000, 1)
                _emit(line)
            count += 1
            decode_start = time.perf_counter()
    except Refusal as exc:
        _emit({"error": exc.reason, "message": str(exc)})
        return 3
    except tesseract.PageFailed as exc:
        _emit({"error": exc.reason, "message": str(exc)})
        return 3
    except MemoryError:
        _emit({"error": "ocr_memory", "message": f"the page needs more than {cfg['memory_mb']} MB"})
        return 3
    except Exception as exc:  # noqa: BLE001 — a decoder failing unforeseen: a clear reason, not a bare crash
        _emit({"error": "decode_failed", "message": f"the {kind} decoder failed ({type(exc).__name__})"})
        return 3
    _emit({"done": True, "pages": count, "facts": facts, "ms": round((time.perf_counter() - t0) * 1000, 1)})
    return 0


def main() -> int:
    job = Path(sys.argv[1])
    cfg = json.loads((job / "config.json").read_text())
    limit_self(int(cfg["memory_mb"]), int(cfg["parent"]))
    return run(job, cfg)


if __name__ == "__main__":
    sys.exit(main())
