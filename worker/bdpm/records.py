"""One typed, immutable record per row of each BDPM file, built from the row's fields.

Field names follow the BDPM's own vocabulary (and the GraphQL source's: ``denomination``,
``forme_pharmaceutique``, ``voies_administration``…), so the mirror and the GraphQL answers read
alike. Each ``from_fields`` receives the row's fields already split and trimmed to the declared
column count and raises :class:`RowError` naming the column at fault — never echoing the value,
which is data, not something for logs.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

_CIS = re.compile(r"\d{8}")
_CIP7 = re.compile(r"\d{7}")
_CIP13 = re.compile(r"\d{13}")
_DIGITS = re.compile(r"\d{1,12}")
_DOSSIER = re.compile(r"[A-Z]{1,4}-\d{1,8}")
_DATE_FR = re.compile(r"\d{2}/\d{2}/\d{4}")
_DATE_COMPACT = re.compile(r"\d{8}")
_RATE = re.compile(r"(\d{1,3}(?:[.,]\d+)?) ?%")
# "30,52", "1,234,56" (thousands then decimal comma), "1 234,56", "1234.56"
_PRICE = re.compile(r"(\d{1,3}(?:[,. ]\d{3})+|\d+)(?:[,.](\d{1,2}))?")


class RowError(ValueError):
    """A row's field is invalid; the message names the column, not the value."""

    def __init__(self, column: str, problem: str) -> None:
        self.column = column
        super().__init__(f"{column}: {problem}")


def text(value: str) -> str:
    """Trim and collapse whitespace runs (stray spaces, non-breaking spaces) to one space."""
    return " ".join(value.split())


def _match(column: str, value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(value):
        raise RowError(column, f"not {what}")
    return value


def _required(column: str, value: str) -> str:
    if not value:
        raise RowError(column, "empty")
    return value


def _date_fr(column: str, value: str) -> _dt.date | None:
    """``JJ/MM/AAAA``; empty → None."""
    if not value:
        return None
    try:
        if _DATE_FR.fullmatch(value):
            return _dt.date(int(value[6:10]), int(value[3:5]), int(value[0:2]))
    except ValueError:
        pass
    raise RowError(column, "not a JJ/MM/AAAA date")


def _date_compact(column: str, value: str) -> _dt.date | None:
    """``AAAAMMJJ`` (HAS opinions); empty → None."""
    if not value:
        return None
    try:
        if _DATE_COMPACT.fullmatch(value):
            return _dt.date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        pass
    raise RowError(column, "not an AAAAMMJJ date")


def _yes_no(column: str, value: str) -> bool | None:
    low = value.lower()
    if low == "oui":
        return True
    if low == "non":
        return False
    if low in ("", "inconnu"):
        return None
    raise RowError(column, "not oui/non/inconnu")


def _int(column: str, value: str, *, optional: bool = False) -> int | None:
    if not value and optional:
        return None
    if not _DIGITS.fullmatch(value):
        raise RowError(column, "not a whole number")
    return int(value)


def parse_price(column: str, value: str) -> Decimal | None:
    """A euro amount: decimal comma (or point), optional thousands separators (``1,234,56``); empty → None."""
    if not value:
        return None
    m = _PRICE.fullmatch(value)
    if m is None:
        raise RowError(column, "not an amount")
    whole = re.sub(r"\D", "", m.group(1))
    return Decimal(f"{whole}.{m.group(2)}" if m.group(2) else whole)


def _rates(column: str, value: str) -> tuple[str, ...]:
    """``65%``, ``65 %``, several with ``;`` → ``("65%",)``; empty → ()."""
    out = []
    for part in value.split(";"):
        part = part.strip()
        if not part:
            continue
        m = _RATE.fullmatch(part)
        if m is None:
            raise RowError(column, "not a percentage")
        out.append(f"{m.group(1).replace(',', '.')}%")
    return tuple(out)


def _list(value: str) -> tuple[str, ...]:
    return tuple(p for p in (text(x) for x in value.split(";")) if p)


@dataclass(frozen=True, slots=True)
class Specialite:
    """``CIS_bdpm.txt``: one medicinal product (speciality)."""

    cis: str
    denomination: str
    forme_pharmaceutique: str
    voies_administration: tuple[str, ...]
    statut_admin_amm: str
    type_procedure_amm: str
    etat_commercialisation: str
    date_amm: _dt.date | None
    statut_bdm: str
    numero_autorisation_europeenne: str
    titulaires: tuple[str, ...]
    surveillance_renforcee: bool | None

    @classmethod
    def from_fields(cls, f: Sequence[str]) -> Specialite:
        return cls(
            cis=_match("cis", f[0], _CIS, "an 8-digit CIS"),
            denomination=_required("denomination", f[1]),
            forme_pharmaceutique=f[2],
            voies_administration=_list(f[3]),
            statut_admin_amm=f[4],
            type_procedure_amm=f[5],
            etat_commercialisation=f[6],
            date_amm=_date_fr("date_amm", f[7]),
            statut_bdm=f[8],
            numero_autorisation_europeenne=f[9],
            titulaires=_list(f[10]),
            surveillance_renforcee=_yes_no("surveillance_renforcee", f[11]),
        )


@dataclass(frozen=True, slots=True)
class Presentation:
    """``CIS_CIP_bdpm.txt``: one box (presentation) of a speciality, its codes, price and reimbursement."""

    cis: str
    cip7: str
    libelle: str
    statut_admin: str
    etat_commercialisation: str
    date_declaration: _dt.date | None
    cip13: str
    agrement_collectivites: bool | None
    taux_remboursement: tuple[str, ...]
    prix_sans_honoraires: Decimal | None
    prix_avec_honoraires: Decimal | None
    honoraires: Decimal | None
    indications_remboursement: str

    @classmethod
    def from_fields(cls, f: Sequence[str]) -> Presentation:
        return cls(
            cis=_match("cis", f[0], _CIS, "an 8-digit CIS"),
            cip7=_match("cip7", f[1], _CIP7, "a 7-digit CIP"),
            libelle=f[2],
            statut_admin=f[3],
            etat_commercialisation=f[4],
            date_declaration=_date_fr("date_declaration", f[5]),
            cip13=_match("cip13", f[6], _CIP13, "a 13-digit CIP"),
            agrement_collectivites=_yes_no("agrement_collectivites", f[7]),
            taux_remboursement=_rates("taux_remboursement", f[8]),
            prix_sans_honoraires=parse_price("prix_sans_honoraires", f[9]),
            prix_avec_honoraires=parse_price("prix_avec_honoraires", f[10]),
            honoraires=parse_price("honoraires", f[11]),
            indications_remboursement=f[12],
        )


@dataclass(frozen=True, slots=True)
class Composition:
    """``CIS_COMPO_bdpm.txt``: one substance of a speciality, with its dosage."""

    cis: str
    element_pharmaceutique: str
    code_substance: str
    denomination_substance: str
    dosage_substance: str
    reference_dosage: str
    nature_composant: str  # SA active substance, FT therapeutic fraction
    numero_liaison: int | None

    @classmethod
    def from_fields(cls, f: Sequence[str]) -> Composition:
        nature = f[6].upper()
        if nature not in ("SA", "FT"):
            raise RowError("nature_composant", "not SA/FT")
        return cls(
            cis=_match("cis", f[0], _CIS, "an 8-digit CIS"),
            element_pharmaceutique=f[1],
            code_substance=_match("code_substance", f[2], _DIGITS, "a substance code"),
            denomination_substance=_required("denomination_substance", f[3]),
            dosage_substance=f[4],
            reference_dosage=f[5],
            nature_composant=nature,
            numero_liaison=_int("numero_liaison", f[7], optional=True),
        )


GENERIC_TYPES = {0: "princeps", 1: "generique", 2: "complementarite posologique", 4: "generique substituable"}


@dataclass(frozen=True, slots=True)
class GroupeGenerique:
    """``CIS_GENER_bdpm.txt``: a speciality's membership of a generic group."""

    groupe_id: int
    libelle: str
    cis: str
    type_generique: int  # GENERIC_TYPES
    numero_tri: int | None

    @classmethod
    def from_fields(cls, f: Sequence[str]) -> GroupeGenerique:
        kind = _int("type_generique", f[3])
        if kind not in GENERIC_TYPES:
            raise RowError("type_generique", "not 0, 1, 2 or 4")
        groupe = _int("groupe_id", f[0])
        assert groupe is not None and kind is not None
        return cls(
            groupe_id=groupe,
            libelle=_required("libelle", f[1]),
            cis=_match("cis", f[2], _CIS, "an 8-digit CIS"),
            type_generique=kind,
            numero_tri=_int("numero_tri", f[4], optional=True),
        )


@dataclass(frozen=True, slots=True)
class ConditionPrescription:
    """``CIS_CPD_bdpm.txt``: one prescription or dispensing condition of a speciality."""

    cis: str
    condition: str

    @classmethod
    def from_fields(cls, f: Sequence[str]) -> ConditionPrescription:
        return cls(cis=_match("cis", f[0], _CIS, "an 8-digit CIS"), condition=_required("condition", f[1]))


@dataclass(frozen=True, slots=True)
class AvisHas:
    """``CIS_HAS_SMR_bdpm.txt`` / ``CIS_HAS_ASMR_bdpm.txt``: one opinion of the HAS Transparency Committee."""

    cis: str
    code_dossier_has: str
    motif_evaluation: str
    date_avis: _dt.date | None
    valeur: str  # SMR (Important, Modéré…) or ASMR (I–V, "Commentaires sans chiffrage de l'ASMR")
    libelle: str

    @classmethod
    def from_fields(cls, f: Sequence[str]) -> AvisHas:
        return cls(
            cis=_match("cis", f[0], _CIS, "an 8-digit CIS"),
            code_dossier_has=_match("code_dossier_has", f[1], _DOSSIER, "a HAS file code"),
            motif_evaluation=f[2],
            date_avis=_date_compact("date_avis", f[3]),
            valeur=f[4],
            libelle=f[5],
        )


@dataclass(frozen=True, slots=True)
class LienCt:
    """``HAS_LiensPageCT_bdpm.txt``: the link to a Transparency Committee opinion page."""

    code_dossier_has: str
    url: str

    @classmethod
    def from_fields(cls, f: Sequence[str]) -> LienCt:
        url = f[1]
        if not url.startswith(("https://", "http://")):
            raise RowError("url", "not an http(s) link")
        return cls(code_dossier_has=_match("code_dossier_has", f[0], _DOSSIER, "a HAS file code"), url=url)


Record = Specialite | Presentation | Composition | GroupeGenerique | ConditionPrescription | AvisHas | LienCt
