"""The mirror's tables: read the live version (by CIS, by CIP, rows for a name index); load, swap and prune versions.

Readers read the pointer (``bdpm_state.current_version``) once, then only rows of that version: a swap moves
the pointer in one short transaction, and the previous version's rows stay until the next swap, so a reader
sees the old or the new data, never a mix or nothing. Plain SQL on the DB-API cursor (the same on SQLite and
PostgreSQL; no ORM on the hot paths); every function takes the database it runs on.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import peewee

from models import is_postgres
from models.bdpm import BdpmAvis, BdpmComposition, BdpmCondition, BdpmGenerique, BdpmLienCt, BdpmPresentation
from models.bdpm import BdpmSpecialite as _Spec
from worker.bdpm.files import ASMR, FILES, SMR, BdpmFile
from worker.bdpm.parse import Snapshot
from worker.bdpm.records import GENERIC_TYPES

Database = peewee.Database | peewee.DatabaseProxy
CHUNK = 5000  # rows per insert transaction: the write lock is held for a few tens of milliseconds at a time
TABLES: dict[str, type[peewee.Model]] = {  # file key → table
    "specialites": _Spec,
    "presentations": BdpmPresentation,
    "compositions": BdpmComposition,
    "generiques": BdpmGenerique,
    "conditions": BdpmCondition,
    "smr": BdpmAvis,
    "asmr": BdpmAvis,
    "liens_ct": BdpmLienCt,
}


def execute(db: Database, sql: str, params: Sequence[Any] = ()) -> Any:
    """Run ``sql`` written with ``?`` placeholders on either backend; the DB-API cursor."""
    return db.execute_sql(sql.replace("?", db.param), tuple(params))


def _rows(db: Database, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    return list(execute(db, sql, params).fetchall())


def _one(db: Database, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    rows = _rows(db, sql, params)
    return rows[0] if rows else None


def _date(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value.isoformat() if isinstance(value, _dt.date) else str(value)


def _money(value: Any) -> float | None:
    return None if value is None else float(value)


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _split(value: str) -> list[str]:
    return [p for p in value.split(";") if p]


# --- reads -------------------------------------------------------------------------------------------------


def current_version(db: Database) -> int | None:
    """The version readers use; None while the mirror is empty (no sync has succeeded yet)."""
    row = _one(db, "SELECT current_version FROM bdpm_state WHERE id = 1")
    return None if row is None or row[0] is None else int(row[0])


_SPEC_COLUMNS = (
    "cis, denomination, forme_pharmaceutique, voies_administration, statut_admin_amm, type_procedure_amm, "
    "etat_commercialisation, date_amm, statut_bdm, numero_autorisation_europeenne, titulaires, surveillance_renforcee"
)
_PRES_COLUMNS = (
    "cip7, cip13, libelle, statut_admin, etat_commercialisation, date_declaration, agrement_collectivites, "
    "taux_remboursement, prix_sans_honoraires, prix_avec_honoraires, honoraires, indications_remboursement"
)


def _presentation(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "CIP7": row[0],
        "CIP13": row[1],
        "libelle": row[2],
        "statut_admin": row[3],
        "etat_commercialisation": row[4],
        "date_declaration": _date(row[5]),
        "agrement_collectivites": _flag(row[6]),
        "taux_remboursement": row[7] or None,
        "prix_sans_honoraires": _money(row[8]),
        "prix_avec_honoraires": _money(row[9]),
        "honoraires": _money(row[10]),
        "indications_remboursement": row[11] or None,
    }


def get_by_cis(db: Database, cis: str, version: int | None = None) -> dict[str, Any] | None:
    """The medicament with this CIS, shaped like the GraphQL source's (``CIS``, ``denomination``, ``substances``,
    ``presentations``, ``conditions_prescription``…) plus its generic groups and HAS opinions; None if absent."""
    version = current_version(db) if version is None else version
    if version is None:
        return None
    spec = _one(db, f"SELECT {_SPEC_COLUMNS} FROM bdpm_specialites WHERE version = ? AND cis = ?", (version, cis))
    if spec is None:
        return None
    key = (version, cis)
    substances = _rows(
        db,
        "SELECT code_substance, denomination_substance, dosage_substance, reference_dosage, nature_composant, "
        "element_pharmaceutique, numero_liaison FROM bdpm_compositions WHERE version = ? AND cis = ? ORDER BY id",
        key,
    )
    presentations = _rows(
        db, f"SELECT {_PRES_COLUMNS} FROM bdpm_presentations WHERE version = ? AND cis = ? ORDER BY cip13", key
    )
    conditions = _rows(db, "SELECT condition FROM bdpm_conditions WHERE version = ? AND cis = ? ORDER BY id", key)
    groups = _rows(
        db,
        "SELECT groupe_id, libelle, type_generique, numero_tri FROM bdpm_generiques "
        "WHERE version = ? AND cis = ? ORDER BY groupe_id",
        key,
    )
    avis = _rows(
        db,
        "SELECT a.kind, a.code_dossier_has, a.motif_evaluation, a.date_avis, a.valeur, a.libelle, l.url "
        "FROM bdpm_avis a LEFT JOIN bdpm_liens_ct l "
        "ON l.version = a.version AND l.code_dossier_has = a.code_dossier_has "
        "WHERE a.version = ? AND a.cis = ? ORDER BY a.date_avis DESC, a.id",
        key,
    )
    generic_groups = [
        {"id": g[0], "libelle": g[1], "type": g[2], "type_libelle": GENERIC_TYPES.get(g[2]), "numero_tri": g[3]}
        for g in groups
    ]
    opinions = {
        kind: [
            {
                "code_dossier_has": a[1],
                "motif": a[2],
                "date_avis": _date(a[3]),
                "valeur": a[4],
                "libelle": a[5],
                "lien": a[6],
            }
            for a in avis
            if a[0] == kind
        ]
        for kind in ("smr", "asmr")
    }
    return {
        "CIS": spec[0],
        "denomination": spec[1],
        "forme_pharmaceutique": spec[2],
        "voies_administration": _split(spec[3]),
        "statut_admin_AMM": spec[4],
        "type_procedure_AMM": spec[5],
        "etat_commercialisation": spec[6],
        "date_AMM": _date(spec[7]),
        "statut_bdm": spec[8] or None,
        "numero_autorisation_europeenne": spec[9] or None,
        "titulaires": _split(spec[10]),
        "surveillance_renforcee": _flag(spec[11]),
        "conditions_prescription": [c[0] for c in conditions],
        "substances": [
            {
                "code_substance": s[0],
                "denominations": [s[1]],
                "dosage_substance": s[2] or None,
                "reference_dosage": s[3] or None,
                "nature_composant": s[4],
                "element_pharmaceutique": s[5],
                "numero_liaison": s[6],
            }
            for s in substances
        ],
        "presentations": [_presentation(p) for p in presentations],
        "groupe_generique": generic_groups[0] if generic_groups else None,
        "groupes_generiques": generic_groups,
        "avis_smr": opinions["smr"],
        "avis_asmr": opinions["asmr"],
        "mirror_version": version,
    }


def get_by_cip(db: Database, code: str, version: int | None = None) -> dict[str, Any] | None:
    """The medicament of the box with this CIP13 (``34009…``) or CIP7, as :func:`get_by_cis`, with the box
    itself under ``presentation``; None if no box has this code (or the code is neither 7 nor 13 digits)."""
    code = "".join(code.split())
    column = {7: "cip7", 13: "cip13"}.get(len(code))
    if column is None or not code.isdigit():
        return None
    version = current_version(db) if version is None else version
    if version is None:
        return None
    row = _one(
        db, f"SELECT cis, {_PRES_COLUMNS} FROM bdpm_presentations WHERE version = ? AND {column} = ?", (version, code)
    )
    if row is None:
        return None
    medicament = get_by_cis(db, row[0], version)
    if medicament is None:  # a box whose speciality is not in CIS_bdpm.txt (the files allow it)
        medicament = {"CIS": row[0], "denomination": None, "mirror_version": version}
    medicament["presentation"] = _presentation(row[1:])
    return medicament


def get_medicine(db: Database, code: str) -> dict[str, Any] | None:
    """By the code on a document or a box: a CIS (8 digits) as :func:`get_by_cis`, a CIP13 or CIP7 as
    :func:`get_by_cip`; None when absent, when the mirror is empty, or for anything else."""
    code = "".join(code.split())
    if not code.isdigit():
        return None
    return get_by_cis(db, code) if len(code) == 8 else get_by_cip(db, code)


@dataclass(frozen=True, slots=True)
class IndexSubstance:
    name: str
    dosage: str
    reference: str
    nature: str  # SA or FT
    link: int | None = None  # numero_liaison: pairs a salt (SA) with its therapeutic fraction (FT)


@dataclass(frozen=True, slots=True)
class IndexRow:
    """One speciality, with what a name index needs."""

    cis: str
    denomination: str
    forme_pharmaceutique: str
    voies_administration: tuple[str, ...]
    etat_commercialisation: str
    substances: tuple[IndexSubstance, ...]
    groupe_id: int | None
    groupe_generique: str | None  # the group's label, e.g. "AMOXICILLINE 1 g - CLAMOXYL 1 g, comprimé …"
    type_generique: int | None  # GENERIC_TYPES


def index_rows(db: Database, version: int) -> Iterator[IndexRow]:
    """Every speciality of ``version`` (in CIS order) with its substances, dosages and generic group."""
    substances: dict[str, list[IndexSubstance]] = {}
    for cis, name, dosage, ref, nature, link in _rows(
        db,
        "SELECT cis, denomination_substance, dosage_substance, reference_dosage, nature_composant, numero_liaison "
        "FROM bdpm_compositions WHERE version = ? ORDER BY id",
        (version,),
    ):
        substances.setdefault(cis, []).append(IndexSubstance(name, dosage, ref, nature, link))
    groups: dict[str, tuple[int, str, int]] = {}
    for cis, gid, label, kind in _rows(
        db,
        "SELECT cis, groupe_id, libelle, type_generique FROM bdpm_generiques WHERE version = ? ORDER BY groupe_id",
        (version,),
    ):
        groups.setdefault(cis, (gid, label, kind))
    for cis, name, form, routes, state in _rows(
        db,
        "SELECT cis, denomination, forme_pharmaceutique, voies_administration, etat_commercialisation "
        "FROM bdpm_specialites WHERE version = ? ORDER BY cis",
        (version,),
    ):
        group = groups.get(cis)
        yield IndexRow(
            cis=cis,
            denomination=name,
            forme_pharmaceutique=form,
            voies_administration=tuple(_split(routes)),
            etat_commercialisation=state,
            substances=tuple(substances.get(cis, ())),
            groupe_id=group[0] if group else None,
            groupe_generique=group[1] if group else None,
            type_generique=group[2] if group else None,
        )


def version_counts(db: Database, version: int) -> dict[str, int]:
    """Rows of ``version`` per file key, counted in the tables (what verification trusts)."""
    counts = {}
    for spec in FILES:
        table = TABLES[spec.key]._meta.table_name
        where, params = (
            ("version = ? AND kind = ?", (version, spec.key)) if spec in (SMR, ASMR) else ("version = ?", (version,))
        )
        row = _one(db, f"SELECT COUNT(*) FROM {table} WHERE {where}", params)
        counts[spec.key] = int(row[0]) if row else 0
    return counts


# --- writes ------------------------------------------------------------------------------------------------


def _value(value: Any, sqlite: bool) -> Any:
    if isinstance(value, tuple):
        return ";".join(value)
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, Decimal) and sqlite:
        return str(value)
    return value


def _columns(spec: BdpmFile) -> tuple[str, ...]:
    base = ("version", "kind") if spec in (SMR, ASMR) else ("version",)
    return base + spec.columns


def insert_file(db: Database, version: int, spec: BdpmFile, records: Sequence[Any]) -> int:
    """Insert one file's records as rows of ``version``, in short transactions of :data:`CHUNK` rows."""
    table = TABLES[spec.key]._meta.table_name
    columns = _columns(spec)
    sqlite = not is_postgres(db)
    head: tuple[Any, ...] = (version, spec.key) if spec in (SMR, ASMR) else (version,)
    names = spec.columns
    for start in range(0, len(records), CHUNK):
        rows = [head + tuple(_value(getattr(r, n), sqlite) for n in names) for r in records[start : start + CHUNK]]
        with db.atomic():
            cursor = db.cursor()
            if sqlite:
                marks = ", ".join("?" * len(columns))
                cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            else:
                from psycopg2.extras import execute_values  # type: ignore[import-untyped]

                execute_values(cursor, f"INSERT INTO {table} ({', '.join(columns)}) VALUES %s", rows, page_size=1000)
    return len(records)


def load(db: Database, version: int, snapshot: Snapshot) -> dict[str, int]:
    """Load every file of ``snapshot`` into ``version`` (the shadow copy); rows per file key."""
    return {spec.key: insert_file(db, version, spec, snapshot.records(spec.name)) for spec in FILES}
