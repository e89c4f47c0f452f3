"""``mediflux ocr FILE [--json]``: what the worker would extract from an image or PDF, stored nowhere.

For an operator checking a document: the same child, limits, hOCR parser, NIR masking and analysis as the
OCR stage, on a file anywhere (it is read, never moved). The output is the document's text: it goes to the
operator's terminal only, never to the logs.
"""

from __future__ import annotations

from typing import Any

import click

from worker.analysis.pipeline import analyze_text
from worker.cli.output import echo_json
from worker.config import Settings, exit_on_config_error
from worker.ocr.run import OcrRefused
from worker.ocr.sniff import HEAD_BYTES, KINDS, media_kind
from worker.ocr.stage import ocr_bytes
from worker.ocr.tesseract import TesseractMissing


def extract(data: bytes, settings: Settings) -> dict[str, Any]:
    """The pages, OCR facts and analysis of ``data``; raises OcrRefused, or ValueError if not an image/PDF."""
    if media_kind(data[:HEAD_BYTES]) is None:
        raise ValueError(f"not an image or a PDF ({', '.join(KINDS)})")
    doc = ocr_bytes(data, settings)
    pages = [p.as_dict() for p in doc.pages]
    return {
        "format": doc.format,
        "engine": doc.engine,
        "pages": pages,
        "nirs_masked": doc.extra["nirs_masked"],
        "ocr": doc.extra["ocr"],
        "analysis": analyze_text(pages),
    }


@click.command("ocr")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
def ocr(file: str, as_json: bool) -> None:
    """Print what the worker would extract from an image or PDF FILE (nothing is stored or moved)."""
    settings = exit_on_config_error()
    with open(file, "rb") as f:
        data = f.read(settings.max_file_mb * 1024 * 1024 + 1)
    if len(data) > settings.max_file_mb * 1024 * 1024:
        raise click.ClickException(f"larger than MEDIFLUX_MAX_FILE_MB ({settings.max_file_mb} MB)")
    try:
        out = extract(data, settings)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except OcrRefused as exc:
        raise click.ClickException(f"refused ({exc.reason}): {exc}") from None
    except TesseractMissing as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(out)
        return
    meta = out["ocr"]
    click.echo(
        f"{out['format']}, {len(out['pages'])} pages, engine {meta['engine'] or 'pdf text layer'} "
        f"{meta['version'] or ''} ({meta['languages']}), {meta['timings_ms'].get('child', 0):.0f} ms"
    )
    for page, info in zip(out["pages"], meta["pages"]):
        conf = "-" if page["confidence"] is None else f"{page['confidence']:.2f}"
        click.echo(f"\n--- page {page['number']} ({info['source']}, confidence {conf}, {page['words']} words)")
        click.echo(page["text"])
    analysis = out["analysis"]
    click.echo(f"\ndocument type: {analysis.get('document_type')}  (NIRs masked: {out['nirs_masked']})")
