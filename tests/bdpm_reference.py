"""The reference BDPM snapshot as name-index rows, read by the mirror's parser (no database: fast for tests).

``index_rows()`` joins the parsed files exactly as :func:`worker.bdpm.store.index_rows` joins the tables
(``tests/test_bdpm_match.py`` checks both give the same index on a synced subset). Used by the matcher's
tests and by bench/bdpm_match_eval.py and bench/make_bdpm_eval.py.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from tests.bdpm_data import reference_folder
from worker.bdpm.parse import Snapshot, parse_folder
from worker.bdpm.store import IndexRow, IndexSubstance

CACHE = Path(tempfile.gettempdir()) / "mediflux-bdpm-reference"


def rows_of(snap: Snapshot) -> tuple[IndexRow, ...]:
    """The index rows of a parsed snapshot, in CIS order (first generic group by id, like the store)."""
    substances: dict[str, list[IndexSubstance]] = {}
    for c in snap.records("CIS_COMPO_bdpm.txt"):
        substances.setdefault(c.cis, []).append(
            IndexSubstance(
                c.denomination_substance, c.dosage_substance, c.reference_dosage, c.nature_composant, c.numero_liaison
            )
        )
    groups: dict[str, tuple[int, str, int]] = {}
    for g in sorted(snap.records("CIS_GENER_bdpm.txt"), key=lambda g: g.groupe_id):
        groups.setdefault(g.cis, (g.groupe_id, g.libelle, g.type_generique))
    out = []
    for s in sorted(snap.records("CIS_bdpm.txt"), key=lambda s: s.cis):
        group = groups.get(s.cis)
        out.append(
            IndexRow(
                cis=s.cis,
                denomination=s.denomination,
                forme_pharmaceutique=s.forme_pharmaceutique,
                voies_administration=tuple(s.voies_administration),
                etat_commercialisation=s.etat_commercialisation,
                substances=tuple(substances.get(s.cis, ())),
                groupe_id=group[0] if group else None,
                groupe_generique=group[1] if group else None,
                type_generique=group[2] if group else None,
            )
        )
    return tuple(out)


@functools.cache
def snapshot() -> Snapshot:
    return parse_folder(reference_folder(CACHE), ["CIS_bdpm.txt", "CIS_COMPO_bdpm.txt", "CIS_GENER_bdpm.txt"])


@functools.cache
def index_rows() -> tuple[IndexRow, ...]:
    return rows_of(snapshot())
