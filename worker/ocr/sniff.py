"""Which image or PDF is this? Decided from the first bytes (magic numbers), never from the name.

Ingestion asks :func:`media_kind` before decoding a landed file as text: a photo or a PDF goes to the OCR
stage instead of being quarantined as binary.
"""

from __future__ import annotations

HEAD_BYTES = 1024
# ISO-BMFF major/compatible brands of HEIF still images (phone photos): HEVC-coded and generic image brands.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
# kind -> extension of a kept copy in processed/
EXTENSIONS = {"png": "png", "jpeg": "jpg", "tiff": "tif", "webp": "webp", "heif": "heic", "pdf": "pdf"}
KINDS = tuple(EXTENSIONS)


def media_kind(head: bytes) -> str | None:
    """``png``, ``jpeg``, ``tiff``, ``webp``, ``heif`` or ``pdf`` from a file's first bytes, else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and _is_heif(head):
        return "heif"
    # Readers accept the header anywhere in the first kilobyte; only leading whitespace is allowed here, so
    # an OCR text that quotes "%PDF-" is never taken for a PDF.
    if head[:HEAD_BYTES].lstrip().startswith(b"%PDF-"):
        return "pdf"
    return None


def _is_heif(head: bytes) -> bool:
    size = int.from_bytes(head[0:4], "big")
    box = head[8 : min(max(size, 16), 256)]
    brands = {box[i : i + 4] for i in range(0, len(box) - 3, 4)}
    return bool(brands & _HEIF_BRANDS)
