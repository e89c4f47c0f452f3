"""NIR (French social-security number) masking for the worker: the one detector, applied before anything is stored.

The detector itself is :mod:`models.nir` (standard library only, so that the migration re-masking stored rows
can use it without ``models`` importing ``worker``); this module is the name the worker's code imports. Where it
is applied — document text and pages, file names and paths, every string of ``meta``, profiles, queries,
pathways, decisions, quarantine sidecars and log lines — is listed in docs/privacy.md.
"""

from __future__ import annotations

from models.nir import (
    MASKED_PATTERN,
    NIR_PATTERN,
    NirMatch,
    contains_nir,
    find_nirs,
    fold,
    mask,
    mask_across,
    mask_nirs,
    mask_text,
    nir_key_valid,
    plausible_body,
    scrub,
)

__all__ = [
    "MASKED_PATTERN",
    "NIR_PATTERN",
    "NirMatch",
    "contains_nir",
    "find_nirs",
    "fold",
    "mask",
    "mask_across",
    "mask_nirs",
    "mask_text",
    "nir_key_valid",
    "plausible_body",
    "scrub",
]
