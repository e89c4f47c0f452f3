"""Why a submission was rejected, in terms fit for a patient: stable codes and short French/English messages.

Quarantine reasons (docs/ingestion.md) are the operator's detail; the app gets one of a few stable codes, and a
message that names neither a path, a user id nor an internal cause.
"""

from __future__ import annotations

EMPTY, UNSUPPORTED, MALFORMED, TOO_LARGE, WRONG_USER, FAILED = (
    "empty_file",
    "unsupported_format",
    "malformed_document",
    "file_too_large",
    "wrong_user",
    "processing_failed",
)

_BY_QUARANTINE_REASON = {
    "empty": EMPTY,
    "no_text": EMPTY,
    "not_utf8": UNSUPPORTED,
    "binary": UNSUPPORTED,
    "format_mismatch": UNSUPPORTED,
    "unknown_markup": UNSUPPORTED,
    "not_regular_file": UNSUPPORTED,
    "hard_link": UNSUPPORTED,
    "invalid_json": MALFORMED,
    "invalid_canonical_json": MALFORMED,
    "invalid_xml": MALFORMED,
    "xml_forbidden": MALFORMED,
    "invalid_tsv": MALFORMED,
    "invalid_hocr": MALFORMED,
    "invalid_alto": MALFORMED,
    "too_large": TOO_LARGE,
    "user_mismatch": WRONG_USER,
    "invalid_user_folder": WRONG_USER,
    # The OCR stage's refusals (worker/ocr/pages.py, child.py): the file itself is at fault, and sending it again
    # later would not help; only its own failures (ocr_timeout, ocr_memory, ocr_failed) are processing_failed.
    "invalid_image": MALFORMED,
    "truncated_image": MALFORMED,
    "invalid_pdf": MALFORMED,
    "decode_failed": MALFORMED,
    "encrypted_pdf": UNSUPPORTED,
    "too_many_pages": TOO_LARGE,
    "too_many_pixels": TOO_LARGE,
}

MESSAGES: dict[str, dict[str, str]] = {
    EMPTY: {
        "fr": "Le document est vide : aucun texte n'a pu être lu.",
        "en": "The document is empty: no text could be read.",
    },
    UNSUPPORTED: {
        "fr": "Ce type de fichier n'est pas pris en charge.",
        "en": "This type of file is not supported.",
    },
    MALFORMED: {
        "fr": "Le fichier est endommagé ou incomplet. Veuillez l'envoyer à nouveau.",
        "en": "The file is damaged or incomplete. Please send it again.",
    },
    TOO_LARGE: {
        "fr": "Le fichier est trop volumineux.",
        "en": "The file is too large.",
    },
    WRONG_USER: {
        "fr": "Ce document est rattaché à un autre compte.",
        "en": "This document belongs to another account.",
    },
    FAILED: {
        "fr": "Le document n'a pas pu être traité. Veuillez réessayer plus tard.",
        "en": "The document could not be processed. Please try again later.",
    },
}
CODES = tuple(MESSAGES)


def reason_code(quarantine_reason: str | None) -> str:
    """The app's stable code for an internal quarantine reason (anything unknown: ``processing_failed``)."""
    return _BY_QUARANTINE_REASON.get(quarantine_reason or "", FAILED)


def message(code: str) -> dict[str, str]:
    """``{"fr": …, "en": …}`` for a code of :data:`CODES`."""
    return dict(MESSAGES.get(code, MESSAGES[FAILED]))
