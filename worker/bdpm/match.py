"""Name index of the BDPM mirror: OCR'd prescription lines → ranked specialities (CIS) with a score in [0, 1].

Built once per mirror version from the rows the store gives (``store.index_rows``)
and kept in memory: one structure, so SQLite and PostgreSQL give the same
results, and a lookup costs no query (docs/bdpm.md, "Matching", says why this
beats FTS5 trigram / ``pg_trgm`` here).

A line is read into name words, doses, bare numbers and form words
(:mod:`worker.bdpm.wording`). Names are compared on OCR skeletons with
RapidFuzz's normalised Indel similarity against three kinds of keys: the brand
part of each denomination (``DOLIPRANE``, ``AMOXICILLINE BIOGARAN``), its first
word (``ASPEGIC`` for ``ASPEGIC ADULTES``), and the active substances
(``AMOXICILLINE`` names every speciality with amoxicillin alone; a combination
gets its joined names). Then doses (``1 g`` = ``1000 mg``; a bare ``1000`` must be
a printed strength), form words and other words adjust the score. Equal scores
are ranked: marketed first, the princeps of its generic group, the most common
(substance, strength, form), the shortest denomination, the CIS.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz, process

from worker.bdpm.records import GENERIC_TYPES
from worker.bdpm.wording import (
    SALTS,
    UNITS,
    Line,
    doses,
    fold,
    form_stems,
    printed_numbers,
    read_line,
    repair,
    skeleton,
    stem,
    substance_name,
)

if TYPE_CHECKING:
    from worker.bdpm.store import IndexRow

# A top candidate at or above this score is taken as the line's speciality (docs/benchmarks.md: the trade-off).
THRESHOLD = 0.8
STRENGTH_MISSING = 0.92  # the line gives no strength: the name alone is less certain
STRENGTH_BARE = 0.97  # a bare number equal to a printed strength (``Doliprane 1000``)
STRENGTH_WRONG = 0.6  # the product is named but with another strength: below the threshold
STRENGTH_COMPO = 0.99  # the dose is the substance's (``SPASFON, comprimé enrobé``), not printed in the name
STRENGTH_UNSAID = 0.78  # no strength on the line and the name has several: which one is not known
FORM_WRONG = 0.8  # another form than the line says: below the threshold however good the name
PREFIX_WEIGHT = 0.97  # ``ASPEGIC`` for ``ASPEGIC ADULTES``: slightly below an exact brand
KEY_CUTOFF = 62.0
KEYS_PER_QUERY = 40
KEY_SPREAD = 20.0  # similarity points below the best key still looked at
_FIRST_WORD_STOP = SALTS | {"acide", "vitamine", "solution", "eau", "extrait"}


@dataclass(frozen=True)
class Speciality:
    cis: str
    denomination: str
    form: str
    routes: tuple[str, ...]
    marketed: bool
    group_id: str | None
    group_label: str | None
    group_type: int | None
    doses: tuple[tuple[str, float], ...]
    dose_set: frozenset[tuple[str, float]]
    printed: frozenset[float]
    forms: frozenset[str]
    primary_form: str
    words: frozenset[str]
    substances: tuple[str, ...]


@dataclass(frozen=True)
class Candidate:
    """One ranked answer: the speciality, its score and why (``matched_on``: brand or substance)."""

    cis: str
    score: float
    denomination: str
    form: str
    routes: tuple[str, ...]
    marketed: bool
    matched_on: str
    generic_group: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["routes"] = list(self.routes)
        return out


def _name_words(head: str) -> list[str]:
    """The words of a denomination head before its first dose (``AMOXICILLINE BIOGARAN 1 g`` → both words)."""
    out = []
    for tok in re.findall(r"[a-z]+|\d+", head):
        if tok[0].isdigit():
            break
        out.append(tok)
    return out


def _split_head(denomination: str) -> tuple[str, str]:
    """``NAME DOSE, form`` → (``NAME DOSE``, ``form``): the first comma not inside a number (``12,5 mg``)."""
    parts = re.split(r",(?!\d)", denomination, maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else ""


def _group_dci(label: str | None) -> list[str]:
    """The substance part of a generic group label (``ACEBUTOLOL (CHLORHYDRATE D') équivalant à ACEBUTOLOL 200 mg``)."""
    if not label:
        return []
    first = repair(re.sub(r"\(.*?\)", " ", re.split(r" [-–] ", label)[0]))
    if "+" in first:
        return []  # a combination: its joined substance names are keys already
    first = first.rsplit("equivalant a", 1)[-1]
    words = _name_words(first) or re.findall(r"[a-z]+", first)  # ``équivalant à 20 mg ATORVASTATINE``
    return [w for w in words if w not in SALTS and w not in UNITS]


def _substances(row: IndexRow) -> tuple[str, ...]:
    """Active substance names, the therapeutic fraction (FT) preferred over its salt (SA), salts dropped."""
    by_link: dict[str, tuple[str, str]] = {}
    for sub in row.substances:
        link = str(sub.name if sub.link is None else sub.link)
        if link not in by_link or sub.nature == "FT":
            by_link[link] = (sub.nature, substance_name(sub.name))
    return tuple(dict.fromkeys(name for _n, name in by_link.values() if name))


def _speciality(row: IndexRow) -> Speciality:
    fixed = repair(row.denomination)
    head, tail = _split_head(fixed)
    own = doses(head)
    ordered = bool(own)
    dosages = [repair(sub.dosage or "") for sub in row.substances]
    if not own:
        own = tuple(d for dosage in dosages for d in doses(dosage))
    printed = printed_numbers(head) or frozenset(n for dosage in dosages for n in printed_numbers(dosage))
    form = row.forme_pharmaceutique or ""
    form_words = re.findall(r"[a-z]+", repair(form))
    return Speciality(
        cis=row.cis,
        denomination=row.denomination,
        form=form,
        routes=tuple(row.voies_administration),
        marketed=fold(row.etat_commercialisation or "") == "commercialisee",
        group_id=None if row.groupe_id is None else str(row.groupe_id),
        group_label=row.groupe_generique,
        group_type=row.type_generique,
        doses=own if ordered else (),
        dose_set=frozenset(own),
        printed=printed,
        forms=form_stems(form) | form_stems(tail) | form_stems(head),  # ``ASPEGIC INJECTABLE 500 mg/5 ml``
        primary_form=stem(form_words[0]) if form_words else "",
        words=frozenset(re.findall(r"[a-z]+", fixed)),
        substances=_substances(row),
    )


class NameIndex:
    """The in-memory index of one mirror version; :meth:`search` is thread-safe (read-only after build)."""

    def __init__(self, rows: Iterable[IndexRow]) -> None:
        self.specialities = sorted((_speciality(r) for r in rows), key=lambda s: s.cis)
        postings: dict[str, dict[int, tuple[float, str]]] = defaultdict(dict)

        def add(key: str, i: int, weight: float, kind: str) -> None:
            if len(key) >= 2 and postings[key].get(i, (0.0, ""))[0] < weight:
                postings[key][i] = (weight, kind)

        for i, spec in enumerate(self.specialities):
            words = _name_words(_split_head(repair(spec.denomination))[0])
            add(skeleton("".join(words)), i, 1.0, "brand")
            if len(words) >= 2 and len(words[0]) >= 4 and words[0] not in _FIRST_WORD_STOP:
                add(skeleton(words[0]), i, PREFIX_WEIGHT, "brand")
            if spec.substances:
                add(skeleton("".join(spec.substances)), i, 1.0, "substance")
                add(skeleton("".join(sorted(spec.substances))), i, 1.0, "substance")
            dci = _group_dci(spec.group_label)
            if dci:
                add(skeleton("".join(dci)), i, 1.0, "substance")
        self.keys = list(postings)
        self.postings = [postings[k] for k in self.keys]
        buckets: dict[str, list[int]] = defaultdict(list)
        for k, key in enumerate(self.keys):
            for b in _buckets(key):
                buckets[b].append(k)
        self.buckets = {b: ([self.keys[k] for k in ks], ks) for b, ks in buckets.items()}
        self.popularity = Counter((s.substances, s.dose_set, s.primary_form) for s in self.specialities)
        self.by_cis = {s.cis: s for s in self.specialities}
        order = sorted(range(len(self.specialities)), key=lambda i: self._rank(self.specialities[i]))
        self.rank = [0] * len(order)  # the tie-break, computed once: equal scores keep this order
        for pos, i in enumerate(order):
            self.rank[i] = pos

    def __len__(self) -> int:
        return len(self.specialities)

    def search(self, text: str, limit: int = 10) -> list[Candidate]:
        """Ranked candidates for one prescription line (best first); [] when no name is readable."""
        line = read_line(text)
        queries = {skeleton("".join(line.name)), skeleton("".join(w for w in line.name if w not in SALTS))}
        best: dict[int, tuple[float, str]] = {}
        for query in (q for q in queries if len(q) >= 3):
            for k, similarity in self._similar_keys(query):
                for i, (weight, kind) in self.postings[k].items():
                    name_score = similarity / 100 * weight
                    if name_score > best.get(i, (0.0, ""))[0]:
                        best[i] = (name_score, kind)
        unsaid = not line.doses and not line.bare and self._several_strengths(best)
        # Factors depend on a few shared attributes: computed once per distinct value in this query.
        strengths: dict[Any, float] = {}
        forms: dict[frozenset[str], float] = {}
        scored = []
        for i, (name_score, kind) in best.items():
            spec = self.specialities[i]
            dose_key = (spec.doses, spec.dose_set, spec.printed)
            strength = strengths.get(dose_key)
            if strength is None:
                strength = strengths[dose_key] = STRENGTH_UNSAID if unsaid else _strength_factor(line, spec)
            form = forms.get(spec.forms)
            if form is None:
                form = forms[spec.forms] = _form_factor(line, spec)
            score = name_score * strength * form * (_extra_factor(line, spec) if line.extra else 1.0)
            scored.append((-round(score, 4), self.rank[i], i, kind))
        top = heapq.nsmallest(limit, scored)
        return [self._candidate(self.specialities[i], -neg, kind) for neg, _r, i, kind in top]

    def _several_strengths(self, best: dict[int, tuple[float, str]]) -> bool:
        """Whether the best-named specialities come in more than one strength (the line gives none)."""
        top = max((score for score, _kind in best.values()), default=0.0)
        strengths = {self.specialities[i].dose_set for i, (score, _k) in best.items() if score >= top - 0.02}
        return len(strengths) > 1

    def _similar_keys(self, query: str) -> list[tuple[int, float]]:
        """Keys near ``query``, looked for among keys sharing a start or an end with it (one misread letter spared)."""
        found: dict[int, float] = {}
        for b in _buckets(query):
            keys, ids = self.buckets.get(b, ((), ()))
            for _key, similarity, j in process.extract(
                query, keys, scorer=fuzz.ratio, limit=KEYS_PER_QUERY, score_cutoff=KEY_CUTOFF
            ):
                found[ids[j]] = similarity
        ranked = sorted(found.items(), key=lambda kv: -kv[1])[:KEYS_PER_QUERY]
        # keys far below the best one cannot give a top candidate: every other factor only lowers a score
        floor = (ranked[0][1] - KEY_SPREAD) if ranked else 0.0
        return [(k, sim) for k, sim in ranked if sim >= floor]

    def _rank(self, spec: Speciality) -> tuple[Any, ...]:
        return (
            not spec.marketed,
            spec.group_type != 0,
            -self.popularity[(spec.substances, spec.dose_set, spec.primary_form)],
            len(spec.denomination),
            spec.cis,
        )

    @staticmethod
    def _candidate(spec: Speciality, score: float, kind: str) -> Candidate:
        group = None
        if spec.group_id is not None:
            group = {
                "id": spec.group_id,
                "label": spec.group_label,
                "type": spec.group_type,
                "type_label": GENERIC_TYPES.get(spec.group_type or 0),
            }
        return Candidate(
            cis=spec.cis,
            score=min(1.0, max(0.0, score)),
            denomination=spec.denomination,
            form=spec.form,
            routes=spec.routes,
            marketed=spec.marketed,
            matched_on=kind,
            generic_group=group,
        )


def _buckets(key: str) -> tuple[str, ...]:
    """Where a key is filed: its first three letters and its last three, each also with one of them misread."""
    head, tail = key[:3], key[-3:]
    starts = {head} | {head[:i] + "?" + head[i + 1 :] for i in range(len(head))}
    ends = {tail} | {tail[:i] + "?" + tail[i + 1 :] for i in range(len(tail))}
    return tuple(sorted({f"<{b}" for b in starts} | {f">{b}" for b in ends}))


def _strength_factor(line: Line, spec: Speciality) -> float:
    if line.doses:
        if spec.doses:  # printed in the denomination, in order: ``5 mg/10 mg`` is not ``5 mg/5 mg``
            return 1.0 if spec.doses[: len(line.doses)] == line.doses else STRENGTH_WRONG
        return STRENGTH_COMPO if all(d in spec.dose_set for d in line.doses) else STRENGTH_WRONG
    if line.bare:
        mg = {v for dim, v in spec.dose_set if dim == "mg"}
        return STRENGTH_BARE if any(b in spec.printed or b in mg for b in line.bare) else STRENGTH_WRONG
    return STRENGTH_MISSING


def _form_factor(line: Line, spec: Speciality) -> float:
    if not line.forms:
        return 1.0
    primary = any(f in spec.forms for f in line.forms[0])
    matched = sum(any(f in spec.forms for f in alts) for alts in line.forms) / len(line.forms)
    return (1.0 if primary else FORM_WRONG) * (0.96 + 0.04 * matched)


def _extra_factor(line: Line, spec: Speciality) -> float:
    missing = sum(1 for w in line.extra[:3] if len(w) >= 2 and w not in spec.words)
    return 0.98**missing
