"""Small real inputs for the OCR tests: rendered French text as PNG/JPEG/TIFF/WebP/HEIC, hand-built PDFs.

Kept small (a few hundred pixels at ~150 dpi) so each real Tesseract run takes well under a second.
The OCR test modules import the two fixtures at the end (``needs_tesseract``, ``database_url``).
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LINES = [
    "ORDONNANCE",
    "Docteur Martin Dupont",
    "Paracétamol 1000 mg trois fois par jour",
    "Fait à Lyon le 12 mars 2024",
]
NIR_LINE = "NIR 1 84 12 75 116 001 26"


def page_image(lines: list[str] | None = None, width: int = 900, size: int = 30) -> Image.Image:
    lines = LINES if lines is None else lines
    font = ImageFont.truetype(FONT, size)
    im = Image.new("L", (width, 60 + len(lines) * int(size * 1.8)), 255)
    draw = ImageDraw.Draw(im)
    for i, line in enumerate(lines):
        draw.text((30, 30 + i * int(size * 1.8)), line, font=font, fill=0)
    return im


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    if fmt == "HEIF":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    im.save(out, fmt, **kw)
    return out.getvalue()


def jpeg_with_orientation(im: Image.Image) -> bytes:
    """A JPEG whose pixels are stored turned 90° clockwise, with EXIF Orientation 6 saying so."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    return encode(im.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=90, exif=exif.tobytes())


def tiff_pages(*images: Image.Image) -> bytes:
    return encode(images[0], "TIFF", save_all=True, append_images=list(images[1:]), compression="tiff_lzw")


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def build_pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF from numbered object bodies (object i+1 is ``objects[i]``) with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def pdf(pages: list[tuple[str, object]], javascript: bool = False, attachment: bool = False) -> bytes:
    """A PDF of A5-ish pages, each ``("text", lines)`` (a real text layer, Helvetica) or ``("scan", image)``
    (a JPEG image, no text layer); optionally with a document JavaScript run at opening and an attached file."""
    objects: list[bytes] = [
        b"",
        b"",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    kids = []
    for kind, content in pages:
        if kind == "text":
            ops = (
                b"BT /F1 14 Tf 40 520 Td 18 TL "
                + b" ".join(
                    b"(" + line.encode("latin-1").replace(b"(", b"\\(").replace(b")", b"\\)") + b") '"
                    for line in content  # type: ignore[union-attr]
                )
                + b" ET"
            )
            resources = b"<< /Font << /F1 3 0 R >> >>"
        else:
            im = content  # type: ignore[assignment]
            jpeg = encode(im, "JPEG", quality=92)  # type: ignore[arg-type]
            objects.append(
                _stream(
                    jpeg,
                    b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                    b"/BitsPerComponent 8 /Filter /DCTDecode" % im.size,  # type: ignore[attr-defined]
                )
            )
            ops = b"q 400 0 0 %d 10 100 cm /Im0 Do Q" % int(400 * im.height / im.width)  # type: ignore[attr-defined]
            resources = b"<< /XObject << /Im0 %d 0 R >> >>" % len(objects)
        objects.append(_stream(ops))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 420 595] /Resources %s /Contents %d 0 R >>"
            % (resources, len(objects))
        )
        kids.append(len(objects))
    names = b""
    if javascript:
        objects.append(b"<< /S /JavaScript /JS (app.alert\\('never run'\\);) >>")
        names += b"/JavaScript << /Names [(init) %d 0 R] >>" % len(objects)
    if attachment:
        objects.append(_stream(b"an attached file, never opened", b"/Type /EmbeddedFile"))
        objects.append(b"<< /Type /Filespec /F (notes.txt) /EF << /F %d 0 R >> >>" % len(objects))
        names += b"/EmbeddedFiles << /Names [(notes.txt) %d 0 R] >>" % len(objects)
    opening = b" /OpenAction %d 0 R" % (len(objects) - (2 if attachment else 0)) if javascript else b""
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R%s%s >>" % (b" /Names << %s >>" % names if names else b"", opening)
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    return build_pdf(objects)


def pdf_page_tree_bomb(levels: int = 9, fanout: int = 10) -> bytes:
    """A page tree whose every level points ``fanout`` times at the next: ``fanout ** levels`` pages claimed."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for level in range(levels):
        number = len(objects) + 1
        child = number + 1
        kids = b" ".join([b"%d 0 R" % child] * fanout)
        objects.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, fanout ** (levels - level)))
    objects.append(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 100 100] >>" % len(objects))
    return build_pdf(objects)


def pdf_deep_nesting(depth: int = 100_000) -> bytes:
    """A one-page PDF whose page carries an array nested ``depth`` levels deep."""
    nested = b"[" * depth + b"]" * depth
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Junk " + nested + b" >>",
    ]
    return build_pdf(objects)


def encrypted(data: bytes, password: str) -> bytes:
    """``data`` encrypted by pypdf with a user password (RC4-128: no extra crypto package needed)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def require_tesseract() -> None:
    """Skip without Tesseract (fra + osd); under CI=true fail instead: .ci/run installs it."""
    import os
    import shutil

    import pytest

    tessdata = "/usr/share/tesseract-ocr/5/tessdata"
    if shutil.which("tesseract") and all(os.path.exists(f"{tessdata}/{m}.traineddata") for m in ("fra", "osd")):
        return
    message = "needs Debian tesseract-ocr, tesseract-ocr-fra and tesseract-ocr-osd"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: .ci/run should have installed them)")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def needs_tesseract():
    require_tesseract()


@pytest.fixture
def database_url(home):  # the OCR path is the same on both backends (ingestion's storage is tested on both)
    return f"sqlite:///{home / 'mediflux.db'}"
