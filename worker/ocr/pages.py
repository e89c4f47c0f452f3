"""The pages of an input, for the OCR child only (it runs under the limits): text read from a PDF's text
layer, or an image to OCR. Decoders never run before the size they claim has been checked.

- Images (PNG, JPEG, TIFF with all its pages, WebP, HEIC/HEIF): the header is read first and a picture
  claiming more than ``max_pixels`` is refused before decoding (decompression bombs); EXIF orientation is
  applied; transparency is flattened on white; pages are handed over in greyscale.
- PDFs (pdfium, no JavaScript engine is ever initialised, attachments are never opened): each page's text
  layer is read directly when it is usable, otherwise the page is rendered at ``dpi`` (lowered for a page so
  large it would exceed ``max_pixels``) and OCRed. An encrypted PDF (password needed) is refused; pages a page
  tree claims but pdfium cannot load end the document at the last readable page.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

MIN_TEXT_CHARS = 16  # fewer letters and digits than this on a page: treat it as a scan


class Refusal(Exception):
    """The input can never be OCRed: ``reason`` is a quarantine code, the message never quotes content."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass
class InputPage:
    number: int
    text: str | None = None  # from a PDF text layer
    image: Any = None  # a PIL image to OCR
    dpi: int | None = None
    info: dict[str, Any] = field(default_factory=dict)


def usable_text(text: str) -> bool:
    """A text layer worth keeping: enough letters or digits, and not mostly undecodable glyphs."""
    core = "".join(text.split())
    good = sum(c.isalnum() for c in core)
    return good >= MIN_TEXT_CHARS and core.count("\ufffd") * 10 <= len(core) and good * 2 >= len(core)


def image_pages(path: str, kind: str, max_pixels: int, max_pages: int) -> Iterator[InputPage]:
    """Every frame of an image file, upright and greyscale."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if kind == "heif":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    try:
        im = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Refusal("too_many_pixels", f"the image claims more than {max_pixels} pixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise Refusal("invalid_image", f"not a readable {kind} image ({type(exc).__name__})") from None
    frames = getattr(im, "n_frames", 1) or 1
    if frames > max_pages:
        raise Refusal("too_many_pages", f"{frames} pages, more than the limit of {max_pages}")
    for index in range(frames):
        try:
            im.seek(index)
            width, height = im.size
            if width * height > max_pixels:
                raise Refusal("too_many_pixels", f"a page claims {width}x{height} pixels, more than {max_pixels}")
            frame = ImageOps.exif_transpose(im)  # a copy, upright
            dpi = _dpi(im.info.get("dpi"))
            yield InputPage(index + 1, image=_greyscale(frame), dpi=dpi, info={"pixels": width * height})
        except Refusal:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise Refusal("too_many_pixels", f"the image claims more than {max_pixels} pixels") from None
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise Refusal("truncated_image", f"the image data is truncated or corrupt ({type(exc).__name__})") from None


def _dpi(value: Any) -> int | None:
    try:
        dpi = round(float(value[0]))
    except (TypeError, ValueError, IndexError):
        return None
    return dpi if 70 <= dpi <= 2400 else None


def _greyscale(im: Any) -> Any:
    from PIL import Image

    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return im.convert("L")


def pdf_pages(path: str, dpi: int, max_pixels: int, max_pages: int, facts: dict[str, Any]) -> Iterator[InputPage]:
    """Each page of a PDF: its text layer when usable, else a rendering to OCR. ``facts`` receives what the
    document carried that was ignored (JavaScript, attachments) and how many pages its page tree claims beyond
    the last readable one (``pages_unreadable``: the readable pages are kept, not the whole PDF lost)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    try:
        pdf = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise Refusal("encrypted_pdf", "the PDF is encrypted (a password is needed)") from None
        raise Refusal("invalid_pdf", "not a readable PDF") from None
    try:
        count = len(pdf)
        if count > max_pages:
            raise Refusal("too_many_pages", f"{count} pages, more than the limit of {max_pages}")
        if count == 0:
            raise Refusal("invalid_pdf", "a PDF without pages")
        facts["javascript_ignored"] = int(raw.FPDFDoc_GetJavaScriptActionCount(pdf.raw)) > 0
        facts["attachments_ignored"] = int(pdf.count_attachments())
        for index in range(count):
            try:
                page = pdf[index]
            except pdfium.PdfiumError:
                # The page tree's /Count overstates the pages (pdfium trusts it): keep the pages before this one.
                if index == 0:
                    raise Refusal("invalid_pdf", "the PDF's first page cannot be read") from None
                facts["pages_unreadable"] = count - index
                return
            try:
                yield _pdf_page(page, index + 1, dpi, max_pixels)
            finally:
                page.close()
    finally:
        pdf.close()


def _pdf_page(page: Any, number: int, dpi: int, max_pixels: int) -> InputPage:
    textpage = page.get_textpage()
    try:
        text = textpage.get_text_bounded()
    finally:
        textpage.close()
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if usable_text(text):
        return InputPage(number, text=text, info={"source": "text_layer"})
    width, height = page.get_size()  # points (1/72 inch)
    scale = dpi / 72.0
    if width * height * scale * scale > max_pixels:
        scale = (max_pixels / max(width * height, 1.0)) ** 0.5
    bitmap = page.render(scale=scale, grayscale=True)
    image = bitmap.to_pil().convert("L")
    return InputPage(number, image=image, dpi=max(1, round(scale * 72)), info={"pixels": image.width * image.height})
