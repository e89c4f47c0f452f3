"""The eight official BDPM files, declared once: name, columns, whether a sync needs it, its record type.

The parser, the downloader, the store, the status and the docs all read this list. A file is
tab-separated with no header row; ``columns`` are in file order. Rows may carry a trailing tab
(ignored) and may omit trailing *optional* columns (``min_fields``): copies in the wild do both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from worker.bdpm.records import (
    AvisHas,
    Composition,
    ConditionPrescription,
    GroupeGenerique,
    LienCt,
    Presentation,
    Record,
    Specialite,
)


@dataclass(frozen=True, slots=True)
class BdpmFile:
    """One official file. ``key`` names it in tables, reports and the CLI; ``unique`` gives a row's identity
    (a second row with the same identity is a bad row); ``required`` files must download and parse for a
    sync to produce a version; optional ones fall back to the last good copy."""

    name: str
    key: str
    columns: tuple[str, ...]
    min_fields: int
    required: bool
    build: Callable[[Sequence[str]], Record]
    unique: Callable[[Any], object] | None = None

    @property
    def field_count(self) -> int:
        return len(self.columns)


SPECIALITES = BdpmFile(
    "CIS_bdpm.txt",
    "specialites",
    (
        "cis",
        "denomination",
        "forme_pharmaceutique",
        "voies_administration",
        "statut_admin_amm",
        "type_procedure_amm",
        "etat_commercialisation",
        "date_amm",
        "statut_bdm",
        "numero_autorisation_europeenne",
        "titulaires",
        "surveillance_renforcee",
    ),
    min_fields=11,
    required=True,
    build=Specialite.from_fields,
    unique=lambda r: r.cis,
)
PRESENTATIONS = BdpmFile(
    "CIS_CIP_bdpm.txt",
    "presentations",
    (
        "cis",
        "cip7",
        "libelle",
        "statut_admin",
        "etat_commercialisation",
        "date_declaration",
        "cip13",
        "agrement_collectivites",
        "taux_remboursement",
        "prix_sans_honoraires",
        "prix_avec_honoraires",
        "honoraires",
        "indications_remboursement",
    ),
    min_fields=8,
    required=True,
    build=Presentation.from_fields,
    unique=lambda r: r.cip13,
)
COMPOSITIONS = BdpmFile(
    "CIS_COMPO_bdpm.txt",
    "compositions",
    (
        "cis",
        "element_pharmaceutique",
        "code_substance",
        "denomination_substance",
        "dosage_substance",
        "reference_dosage",
        "nature_composant",
        "numero_liaison",
    ),
    min_fields=7,
    required=True,
    build=Composition.from_fields,
)
GENERIQUES = BdpmFile(
    "CIS_GENER_bdpm.txt",
    "generiques",
    ("groupe_id", "libelle", "cis", "type_generique", "numero_tri"),
    min_fields=4,
    required=True,
    build=GroupeGenerique.from_fields,
    unique=lambda r: (r.groupe_id, r.cis),
)
CONDITIONS = BdpmFile(
    "CIS_CPD_bdpm.txt",
    "conditions",
    ("cis", "condition"),
    min_fields=2,
    required=True,
    build=ConditionPrescription.from_fields,
)
AVIS_COLUMNS = ("cis", "code_dossier_has", "motif_evaluation", "date_avis", "valeur", "libelle")
SMR = BdpmFile("CIS_HAS_SMR_bdpm.txt", "smr", AVIS_COLUMNS, min_fields=5, required=False, build=AvisHas.from_fields)
ASMR = BdpmFile("CIS_HAS_ASMR_bdpm.txt", "asmr", AVIS_COLUMNS, min_fields=5, required=False, build=AvisHas.from_fields)
LIENS_CT = BdpmFile(
    "HAS_LiensPageCT_bdpm.txt",
    "liens_ct",
    ("code_dossier_has", "url"),
    min_fields=2,
    required=False,
    build=LienCt.from_fields,
    unique=lambda r: r.code_dossier_has,
)

FILES: tuple[BdpmFile, ...] = (SPECIALITES, PRESENTATIONS, COMPOSITIONS, GENERIQUES, CONDITIONS, SMR, ASMR, LIENS_CT)
BY_NAME = {f.name: f for f in FILES}
BY_KEY = {f.key: f for f in FILES}
