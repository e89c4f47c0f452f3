"""The local BDPM mirror's tables: versioned rows of the eight official files, the versions and one pointer.

Every data row carries the ``version`` it was loaded in. A sync loads a new version beside the live one
(a shadow copy), verifies it, then moves the pointer in ``bdpm_state`` in one short transaction: readers
that read the pointer first and then only rows of that version see the old or the new data, never a mix.
The previous version stays until the next swap. Column names are the records' (worker/bdpm/records.py);
lists (routes, holders, rates) are stored ``;``-joined, as in the files.
"""

from __future__ import annotations

import peewee

from models.base import BaseModel, Json, UTCDateTimeField


class BdpmState(BaseModel):
    """The one row (id 1): which version readers use, the one before, and how the last sync went."""

    current_version = peewee.IntegerField(null=True)
    previous_version = peewee.IntegerField(null=True)
    swapped_at = UTCDateTimeField(null=True)
    last_attempt_at = UTCDateTimeField(null=True)
    last_success_at = UTCDateTimeField(null=True)  # last sync that ended well (a new version or unchanged files)
    last_outcome = peewee.CharField(max_length=16, null=True)  # updated, unchanged, rejected, failed
    last_error = peewee.TextField(null=True)  # why the last sync did not swap, or a good one's warnings (no PII)

    class Meta:
        table_name = "bdpm_state"


class BdpmVersion(BaseModel):
    """One loaded (or attempted) version: loading → current → previous → retired, or rejected with a reason."""

    state = peewee.CharField(max_length=16, index=True)
    started_at = UTCDateTimeField()
    finished_at = UTCDateTimeField(null=True)
    counts = Json(default=dict)  # file key → rows loaded
    report = Json(default=dict)  # file name → parse report (encoding, line ends, bad rows); checks
    reason = peewee.TextField(null=True)  # why it was rejected

    class Meta:
        table_name = "bdpm_versions"


class BdpmFileState(BaseModel):
    """Conditional-request state of each official file as last served: validators and the local copy's hash."""

    name = peewee.CharField(max_length=64, unique=True)
    etag = peewee.CharField(max_length=256, null=True)
    last_modified = peewee.CharField(max_length=64, null=True)
    sha256 = peewee.CharField(max_length=64)
    size = peewee.BigIntegerField()
    fetched_at = UTCDateTimeField()
    checked_at = UTCDateTimeField()

    class Meta:
        table_name = "bdpm_files"


class BdpmSpecialite(BaseModel):
    version = peewee.IntegerField()
    cis = peewee.CharField(max_length=8)
    denomination = peewee.TextField()
    forme_pharmaceutique = peewee.TextField()
    voies_administration = peewee.TextField()
    statut_admin_amm = peewee.TextField()
    type_procedure_amm = peewee.TextField()
    etat_commercialisation = peewee.TextField()
    date_amm = peewee.DateField(null=True)
    statut_bdm = peewee.TextField()
    numero_autorisation_europeenne = peewee.TextField()
    titulaires = peewee.TextField()
    surveillance_renforcee = peewee.BooleanField(null=True)

    class Meta:
        table_name = "bdpm_specialites"
        indexes = ((("version", "cis"), True),)


class BdpmPresentation(BaseModel):
    version = peewee.IntegerField()
    cis = peewee.CharField(max_length=8)
    cip7 = peewee.CharField(max_length=7)
    libelle = peewee.TextField()
    statut_admin = peewee.TextField()
    etat_commercialisation = peewee.TextField()
    date_declaration = peewee.DateField(null=True)
    cip13 = peewee.CharField(max_length=13)
    agrement_collectivites = peewee.BooleanField(null=True)
    taux_remboursement = peewee.TextField()
    prix_sans_honoraires = peewee.DecimalField(max_digits=12, decimal_places=2, null=True)
    prix_avec_honoraires = peewee.DecimalField(max_digits=12, decimal_places=2, null=True)
    honoraires = peewee.DecimalField(max_digits=12, decimal_places=2, null=True)
    indications_remboursement = peewee.TextField()

    class Meta:
        table_name = "bdpm_presentations"
        indexes = ((("version", "cip13"), True), (("version", "cip7"), False), (("version", "cis"), False))


class BdpmComposition(BaseModel):
    version = peewee.IntegerField()
    cis = peewee.CharField(max_length=8)
    element_pharmaceutique = peewee.TextField()
    code_substance = peewee.CharField(max_length=12)
    denomination_substance = peewee.TextField()
    dosage_substance = peewee.TextField()
    reference_dosage = peewee.TextField()
    nature_composant = peewee.CharField(max_length=2)
    numero_liaison = peewee.IntegerField(null=True)

    class Meta:
        table_name = "bdpm_compositions"
        indexes = ((("version", "cis"), False),)


class BdpmGenerique(BaseModel):
    version = peewee.IntegerField()
    groupe_id = peewee.IntegerField()
    libelle = peewee.TextField()
    cis = peewee.CharField(max_length=8)
    type_generique = peewee.IntegerField()
    numero_tri = peewee.IntegerField(null=True)

    class Meta:
        table_name = "bdpm_generiques"
        indexes = ((("version", "cis"), False), (("version", "groupe_id"), False))


class BdpmCondition(BaseModel):
    version = peewee.IntegerField()
    cis = peewee.CharField(max_length=8)
    condition = peewee.TextField()

    class Meta:
        table_name = "bdpm_conditions"
        indexes = ((("version", "cis"), False),)


class BdpmAvis(BaseModel):
    """SMR and ASMR opinions (``kind``), one table: the two files have the same columns."""

    version = peewee.IntegerField()
    kind = peewee.CharField(max_length=4)
    cis = peewee.CharField(max_length=8)
    code_dossier_has = peewee.CharField(max_length=16)
    motif_evaluation = peewee.TextField()
    date_avis = peewee.DateField(null=True)
    valeur = peewee.TextField()
    libelle = peewee.TextField()

    class Meta:
        table_name = "bdpm_avis"
        indexes = ((("version", "cis"), False),)


class BdpmLienCt(BaseModel):
    version = peewee.IntegerField()
    code_dossier_has = peewee.CharField(max_length=16)
    url = peewee.TextField()

    class Meta:
        table_name = "bdpm_liens_ct"
        indexes = ((("version", "code_dossier_has"), True),)


DATA_MODELS: tuple[type[BaseModel], ...] = (
    BdpmSpecialite,
    BdpmPresentation,
    BdpmComposition,
    BdpmGenerique,
    BdpmCondition,
    BdpmAvis,
    BdpmLienCt,
)
MODELS: tuple[type[BaseModel], ...] = (BdpmState, BdpmVersion, BdpmFileState, *DATA_MODELS)
