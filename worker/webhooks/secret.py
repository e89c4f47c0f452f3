"""The signing secret's form: ``whsec_<base64>`` as Standard Webhooks writes it (the prefix may be left off)."""

from __future__ import annotations

import base64
import binascii

PREFIX = "whsec_"
MIN_BYTES, MAX_BYTES = 24, 64  # the convention's bounds for a key


class BadSecret(ValueError):
    """The secret is not base64 of a 24–64 byte key; the message never repeats it."""


def parse_secret(raw: str) -> bytes:
    """The HMAC key of ``raw`` (``whsec_<base64>`` or bare base64), as receivers' verifier libraries decode it."""
    text = raw.strip()
    text = text[len(PREFIX) :] if text.startswith(PREFIX) else text
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadSecret("expected whsec_ followed by base64 (value not shown)") from None
    if not MIN_BYTES <= len(key) <= MAX_BYTES:
        raise BadSecret(f"the key must be {MIN_BYTES} to {MAX_BYTES} bytes once base64-decoded, got {len(key)}")
    return key
