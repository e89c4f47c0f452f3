"""Test/bench scaffolding: the real BDPM reference snapshot as name-index rows (no worker code involved).

The mirror's own parser and store produce the same shape (``worker.bdpm.store.index_rows``); this reader
exists so the matcher's evaluation does not depend on a synced database. It reads the files as they are
(UTF-8 here) and keeps only what the matcher needs.
"""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

REFERENCE = Path(
    os.environ.get("MEDIFLUX_BDPM_REFERENCE", Path(__file__).resolve().parents[2] / "shared/reference/bdpm")
)
if not REFERENCE.is_dir():  # worktrees sit one level deeper than the main checkout
    REFERENCE = Path("/work/shared/reference/bdpm")


def _rows(name: str) -> list[list[str]]:
    text = (REFERENCE / name).read_text(encoding="utf-8")
    return [line.rstrip("\r").split("\t") for line in text.split("\n") if line.strip()]


@functools.cache
def index_rows() -> tuple[dict[str, Any], ...]:
    """One dict per CIS: cis, denomination, form, routes, marketed, substances, group_id/label/type."""
    substances: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in _rows("CIS_COMPO_bdpm.txt"):
        substances[r[0]].append({"name": r[3], "dosage": r[4], "nature": r[6], "link": r[7]})
    groups: dict[str, tuple[str, str, int]] = {}
    for r in _rows("CIS_GENER_bdpm.txt"):
        groups[r[2]] = (r[0], r[1], int(r[3]))
    out = []
    for r in _rows("CIS_bdpm.txt"):
        group = groups.get(r[0])
        out.append(
            {
                "cis": r[0],
                "denomination": r[1],
                "form": r[2],
                "routes": [x for x in r[3].split(";") if x],
                "marketed": r[6] == "Commercialisée",
                "substances": substances.get(r[0], []),
                "group_id": group[0] if group else None,
                "group_label": group[1] if group else None,
                "group_type": group[2] if group else None,
            }
        )
    return tuple(out)


@functools.cache
def presentations() -> dict[str, list[str]]:
    """CIS → its CIP13 codes (for the evaluation's presentation checks)."""
    out: dict[str, list[str]] = defaultdict(list)
    for r in _rows("CIS_CIP_bdpm.txt"):
        out[r[0]].append(r[6])
    return dict(out)
