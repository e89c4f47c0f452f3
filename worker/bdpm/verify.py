"""Is a freshly loaded version fit to replace the live one? Row counts and cross-file references, from the tables.

A cut download, a half-empty file from upstream, a file served twice over or files from two different
publications all show here: a required file with no rows, a file that shrank or grew by more than its guard since
the previous version, or rows that refer to specialities the version does not have (CIS ↔ CIP, COMPO, GENER,
CPD). Each problem is one plain sentence (file names and numbers only); the sync keeps the old version and records
them. A real upstream change beyond the guards is accepted once with ``mediflux bdpm sync --accept-changes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.bdpm.files import FILES
from worker.bdpm.store import Database, _one, version_counts

DEFAULT_SHRINK_GUARD = 0.20  # a file may lose at most 20 % of its rows from one version to the next
DEFAULT_GROWTH_GUARD = 0.50  # and gain at most 50 % (the official files grow by a few % a year)
ORPHAN_GROWTH = 0.05  # and its share of rows without a speciality may grow by at most 5 points
# child file key → most rows that may refer to a CIS missing from CIS_bdpm.txt (generic groups keep withdrawn
# specialities: about 21 % in the January 2021 publication)
ORPHAN_LIMITS = {"presentations": 0.02, "compositions": 0.02, "conditions": 0.02, "generiques": 0.35}
CHILD_TABLES = {
    "presentations": "bdpm_presentations",
    "compositions": "bdpm_compositions",
    "conditions": "bdpm_conditions",
    "generiques": "bdpm_generiques",
}
UNCOMPOSED_LIMIT = 0.02  # specialities without any substance


@dataclass(frozen=True)
class Verification:
    counts: dict[str, int]
    orphans: dict[str, float]  # child file key → share of rows without a speciality
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        return {
            "counts": self.counts,
            "orphans": self.orphans,
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


def orphan_shares(db: Database, version: int) -> dict[str, float]:
    shares = {}
    for key, table in CHILD_TABLES.items():
        row = _one(
            db,
            f"SELECT COUNT(*), SUM(CASE WHEN s.cis IS NULL THEN 1 ELSE 0 END) FROM {table} c "
            "LEFT JOIN bdpm_specialites s ON s.version = c.version AND s.cis = c.cis WHERE c.version = ?",
            (version,),
        )
        total, orphans = (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)
        shares[key] = round(orphans / total, 4) if total else 0.0
    return shares


def _uncomposed(db: Database, version: int) -> float:
    row = _one(
        db,
        "SELECT COUNT(*), SUM(CASE WHEN NOT EXISTS (SELECT 1 FROM bdpm_compositions c WHERE c.version = s.version "
        "AND c.cis = s.cis) THEN 1 ELSE 0 END) FROM bdpm_specialites s WHERE s.version = ?",
        (version,),
    )
    total, missing = (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)
    return missing / total if total else 0.0


def verify(
    db: Database,
    version: int,
    previous: dict[str, int] | None,
    previous_orphans: dict[str, float] | None = None,
    shrink_guard: float | None = DEFAULT_SHRINK_GUARD,
    growth_guard: float | None = DEFAULT_GROWTH_GUARD,
) -> Verification:
    """Check ``version`` against the row counts (and orphan shares) of the live version, when there is one.
    A guard of None is not checked (the operator accepted the change)."""
    counts = version_counts(db, version)
    problems: list[str] = []
    notes: list[str] = []
    for spec in FILES:
        now, before = counts[spec.key], (previous or {}).get(spec.key, 0)
        if spec.required and now == 0:
            problems.append(f"{spec.name}: no rows")
        elif before and shrink_guard is not None and now < before * (1 - shrink_guard):
            problems.append(
                f"{spec.name}: {now} rows against {before} in the live version "
                f"(-{(before - now) / before:.0%}; at most -{shrink_guard:.0%} is accepted)"
            )
        elif before and growth_guard is not None and now > before * (1 + growth_guard):
            problems.append(
                f"{spec.name}: {now} rows against {before} in the live version "
                f"(+{(now - before) / before:.0%}; at most +{growth_guard:.0%} is accepted)"
            )
        elif before and now != before:
            notes.append(f"{spec.name}: {now - before:+d} rows")
    orphans = orphan_shares(db, version)
    for key, share in orphans.items():
        name = next(f.name for f in FILES if f.key == key)
        limit = ORPHAN_LIMITS[key]
        before_share = (previous_orphans or {}).get(key)
        if share > limit:
            problems.append(f"{name}: {share:.1%} of rows name a CIS missing from CIS_bdpm.txt (at most {limit:.0%})")
        elif before_share is not None and share > before_share + ORPHAN_GROWTH:
            problems.append(f"{name}: rows naming a missing CIS went from {before_share:.1%} to {share:.1%}")
    uncomposed = _uncomposed(db, version)
    if counts["specialites"] and uncomposed > UNCOMPOSED_LIMIT:
        problems.append(f"CIS_bdpm.txt: {uncomposed:.1%} of specialities have no substance in CIS_COMPO_bdpm.txt")
    return Verification(counts, orphans, tuple(problems), tuple(notes))
