"""Build the BDPM matching evaluation set: prescription lines labelled with the CIS codes that are right for them.

Three sources, written to ``tests/corpus/bdpm/lines.jsonl`` (one JSON object a line:
``line``, ``kind``, ``acceptable`` CIS list, ``source_cis``):

- ``corpus``: every medication line of the ordonnances in ``tests/corpus/analysis`` as real Tesseract
  read it, labelled from the corpus truth (name, strength; form when the line prints it);
- ``brand`` / ``dci``: specialities drawn at random from the reference snapshot, written the way prescribers
  write them (brand or substance name, dose as printed or converted, ``1 g`` ↔ ``1000 mg``, bare strength,
  abbreviated or missing form), then degraded like OCR (``0``/``O``, ``l``/``1``/``I``, ``rn``/``m``, a
  dropped or doubled letter, lost accents and spaces);
- ``negative``: lines that name no BDPM speciality (invented names, posology, addresses): no candidate
  may reach the threshold.

Labels come from the raw files by rules written here, not by the matcher: a brand line accepts every
speciality with the same name words and doses (and the same first form word when the line gives a form); a
substance line accepts every member of a generic group with that substance and dose (same first form word
when given). Usage: ``python bench/make_bdpm_eval.py [--seed 16] [--sources 170] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rapidfuzz import fuzz  # noqa: E402

from tests import bdpm_reference  # noqa: E402

OUT = ROOT / "tests/corpus/bdpm/lines.jsonl"
ABBREVIATIONS = {
    "comprimé": ["cp", "cpr", "comprimé", "comp", "CP"],
    "gélule": ["gél", "gel", "gélule", "GELULE"],
    "solution": ["sol", "solution"],
    "suspension": ["susp", "suspension"],
    "poudre": ["pdre", "poudre", "sachet"],
    "sirop": ["sirop"],
    "collyre": ["collyre", "coll"],
    "capsule": ["caps", "capsule"],
    "lyophilisat": ["lyoc", "lyophilisat"],
    "suppositoire": ["suppo", "suppositoire"],
    "crème": ["crème", "creme"],
    "pommade": ["pommade", "pom"],
}
SECOND = {
    "sécable": ["séc", "sécable"],
    "effervescent": ["eff", "efferv"],
    "dispersible": ["disp"],
    "orodispersible": ["orodisp"],
    "pelliculé": ["pell", ""],
    "buvable": ["buv"],
    "injectable": ["inj"],
}
NEGATIVES = [
    "1 comprimé matin midi et soir pendant 5 jours",
    "QSP 1 mois",
    "Renouvelable 2 fois",
    "Dr Martin Lefèvre",
    "12 rue Victor Hugo 75011 Paris",
    "Tél. 01 45 67 89 10",
    "Poids : 72 kg",
    "Kinésithérapie 10 séances",
    "Bilan sanguin NFS plaquettes",
    "Radiographie du thorax",
    "Semelles orthopédiques",
    "Bas de contention classe 2",
    "Glucomètre et bandelettes",
    "Attelle poignet droit",
    "Fait le 12/03/2026",
    "Signature",
    "ZORBILAX 20 mg cp",
    "FLUMIRATEX 500 mg gélule",
    "TRAVOCLINE 1 g",
    "BRENOXAL 40 mg",
    "KELVARINE 5 mg comprimé",
    "POLYMAXIDE 250 mg",
    "ADRAVIMOL 10 mg",
    "SERPANOLE 100 mg cp",
    "VIXORALINE 2 g sachet",
    "TELMIRASTINE 80 mg",
    "NOVAPLEXINE 300 mg",
    "CORTIZOVANE 5 mg",
    "DUPRALIMAX 75 µg",
    "MIRTOFLAXINE 15 mg",
]
# Corpus products whose BDPM name words differ from the printed name, labelled by hand (printed name, strength).
HAND = {
    ("aspegic", "1000 mg"): ["63936571"],
    ("spasfon", "80 mg", "lyoph"): ["62944693"],
    ("spasfon", "80 mg", ""): ["62944693", "68081368"],
    ("spasfon", "80 mg", "comp"): ["68081368"],
}


def plain(row: Any) -> dict[str, Any]:
    """An index row as a plain dict (this script reads the raw fields with rules of its own)."""
    return {
        "cis": row.cis,
        "denomination": row.denomination,
        "form": row.forme_pharmaceutique,
        "marketed": row.etat_commercialisation == "Commercialisée",
        "substances": [
            {"name": s.name, "dosage": s.dosage, "nature": s.nature, "link": s.link} for s in row.substances
        ],
        "group_label": row.groupe_generique,
    }


def fold(text: str) -> str:
    text = text.replace("µ", "u").replace("μ", "u")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()


def name_words(head: str) -> tuple[str, ...]:
    out = []
    for tok in re.findall(r"[a-z]+|\d+", fold(head)):
        if tok.isdigit():
            break
        out.append(tok)
    return tuple(out)


def dose_mg(text: str) -> tuple[float, ...]:
    """Doses in a base unit, by this script's own reading (mass → mg, UI, %)."""
    units = {"g": 1000, "mg": 1, "microgrammes": 0.001, "microgramme": 0.001, "ug": 0.001, "ui": 1, "%": 1}
    out = []
    text = re.sub(r"pour cent", "%", text, flags=re.IGNORECASE)
    for value, unit in re.findall(
        r"(\d+(?:[ .]\d{3})*(?:,\d+)?) ?(microgrammes?|ug|mg|g|ui|u\.i\.|%)(?![a-z])", fold(text)
    ):
        v = float(value.replace(" ", "").replace(".", "").replace(",", "."))
        out.append(round(v * units.get(unit.replace(".", ""), 1), 6))
    return tuple(out)


def head_of(denomination: str) -> str:
    """The denomination before its form: the first comma that is not a decimal comma."""
    return re.split(r",(?!\d)", denomination, maxsplit=1)[0]


def form_fits(row: dict[str, Any], form_word: str) -> bool:
    """The line's form word is the speciality's form or is said in its denomination (``… en gélule``)."""
    tail = row["denomination"][len(head_of(row["denomination"])) :]
    return form_word in fold(row["form"] + " " + tail)


def first_form(form: str) -> str:
    words = re.findall(r"[a-zé]+", form.lower())
    return fold(words[0]) if words else ""


def group_dci(label: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    first = re.sub(r"\(.*?\)", " ", re.split(r" [-–] ", label)[0])
    first = re.split(r"équivalant à|equivalant a", first)[-1]
    words = name_words(first) or tuple(w for w in re.findall(r"[a-z]+", fold(first)) if w not in ("mg", "g", "ui"))
    return words, dose_mg(first)


def row_doses(row: dict[str, Any]) -> tuple[float, ...]:
    """The speciality's doses: printed in its denomination, else its substances' dosages."""
    return dose_mg(head_of(row["denomination"])) or tuple(
        d for s in row["substances"] for d in dose_mg(s["dosage"])[:1]
    )


def mono_name(row: dict[str, Any]) -> tuple[str, ...]:
    """The one active substance's name words (the therapeutic fraction when given, else the substance)."""
    subs = sorted(row["substances"], key=lambda s: s["nature"] != "FT")
    return tuple(re.findall(r"[a-z]+", fold(re.sub(r"\(.*?\)", " ", subs[0]["name"])))) if subs else ()


def contains(words: tuple[str, ...], part: tuple[str, ...]) -> bool:
    return any(words[i : i + len(part)] == part for i in range(len(words) - len(part) + 1))


def ocr_noise(text: str, rng: random.Random, strength: float) -> str:
    """Misreads OCR makes on print: look-alike letters and digits, one lost or doubled letter, lost spaces."""
    swaps = [
        ("o", "0"),
        ("O", "0"),
        ("l", "1"),
        ("I", "l"),
        ("i", "l"),
        ("m", "rn"),
        ("0", "O"),
        ("1", "l"),
        ("e", "c"),
        ("é", "e"),
        ("S", "5"),
        ("B", "8"),
    ]
    chars = text
    for a, b in swaps:
        if a in chars and rng.random() < strength:
            idx = [m.start() for m in re.finditer(re.escape(a), chars)]
            k = rng.choice(idx)
            chars = chars[:k] + b + chars[k + len(a) :]
    if rng.random() < strength / 2:
        letters = [m.start() for m in re.finditer(r"[A-Za-z]", chars)]
        k = rng.choice(letters[1:-1] or letters)
        chars = chars[:k] + (chars[k] * 2 if rng.random() < 0.5 else "") + chars[k + 1 :]
    if rng.random() < strength / 2:
        chars = re.sub(r"(?<=[A-Za-z]) (?=\d)", "", chars, count=1)
    return chars


def write_dose(head: str, rng: random.Random) -> str:
    """The dose part as prescribers write it: printed, converted (g ↔ mg), µg for microgrammes, bare number."""
    m = re.search(r"\d", head)
    dose = head[m.start() :].strip() if m else ""
    simple = re.fullmatch(r"(\d+(?:,\d+)?) (mg|g|microgrammes)", dose)
    if not simple:
        return dose
    value, unit = simple.groups()
    pick = rng.random()
    if unit == "g" and pick < 0.3:
        return f"{int(float(value.replace(',', '.')) * 1000)} mg"
    if unit == "mg" and value.isdigit() and int(value) % 1000 == 0 and pick < 0.3:
        return f"{int(value) // 1000} g"
    if unit == "microgrammes":
        return f"{value} {rng.choice(['µg', 'microgrammes', 'mcg', 'µg'])}"
    if unit == "mg" and pick < 0.15:
        return value  # "Doliprane 1000"
    if pick < 0.35:
        return f"{value}{unit}"
    return dose


def write_form(form: str, rng: random.Random) -> str:
    if rng.random() < 0.25:
        return ""
    words = re.findall(r"[a-zéè]+", form.lower())
    if not words:
        return ""
    first = rng.choice(ABBREVIATIONS.get(words[0], [words[0]]))
    rest = [rng.choice(SECOND[w]) for w in words[1:] if w in SECOND and rng.random() < 0.6]
    return " ".join([first, *[r for r in rest if r]])


def build(seed: int, sources: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = tuple(plain(r) for r in bdpm_reference.index_rows())
    by_name: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    by_dci: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    by_dci_words: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        head = head_of(r["denomination"])
        by_name[(name_words(head), dose_mg(head))].append(r)
        if r["group_label"]:
            by_dci[group_dci(r["group_label"])].append(r)
            by_dci_words[group_dci(r["group_label"])[0]].append(r)
    mono_rows = [r for r in rows if len({s["link"] for s in r["substances"]}) == 1]

    def accept(group: list[dict[str, Any]], form_given: bool, form: str) -> list[str]:
        return sorted(r["cis"] for r in group if not form_given or form_fits(r, first_form(form)))

    out = corpus_lines(rows)
    pool = [
        r
        for r in rows
        if r["marketed"] and dose_mg(head_of(r["denomination"])) and len(name_words(r["denomination"])) >= 1
    ]
    for r in rng.sample(pool, sources):
        head = head_of(r["denomination"])
        name = " ".join(w for w in re.findall(r"[^\s]+", head.split(re.search(r"\d", head).group())[0]))  # type: ignore[union-attr]
        form_text = write_form(r["form"], rng)
        line = f"{name} {write_dose(head, rng)} {form_text}".strip()
        case = rng.random()
        line = line.upper() if case < 0.4 else (line.title() if case < 0.55 else line)
        if rng.random() < 0.3:
            line = fold(line) if line.islower() else fold(line).upper()
        noisy = ocr_noise(line, rng, 0.25)
        group = by_name[(name_words(head), dose_mg(head))]
        out.append(
            {
                "line": noisy,
                "kind": "brand",
                "acceptable": accept(group, bool(form_text), r["form"]),
                "source_cis": r["cis"],
            }
        )
        if r["group_label"] and "+" not in r["group_label"]:
            words, _dose = group_dci(r["group_label"])
            if words:
                dform = write_form(r["form"], rng)
                dline = ocr_noise(f"{' '.join(words).upper()} {write_dose(head, rng)} {dform}".strip(), rng, 0.2)
                want = row_doses(r)
                same = [x for x in by_dci_words[words] if row_doses(x) == want]
                same += [
                    x for x in mono_rows if x not in same and contains(mono_name(x), words) and row_doses(x) == want
                ]
                out.append(
                    {
                        "line": dline,
                        "kind": "dci",
                        "acceptable": accept(same, bool(dform), r["form"]),
                        "source_cis": r["cis"],
                    }
                )
    out += [{"line": text, "kind": "negative", "acceptable": [], "source_cis": None} for text in NEGATIVES]
    return out


def corpus_lines(rows: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """The medication lines OCR read in the analysis corpus, labelled from its truth."""
    from bench.corpus_content import MEDICATIONS
    from worker.analysis.fields.ordonnance import medications
    from worker.analysis.text import prepare
    from worker.ingest.parse import parse_document

    forms = {(fold(t), s): f for _p, t, s, f in MEDICATIONS}
    labels = json.loads((ROOT / "tests/corpus/analysis/labels.json").read_text(encoding="utf-8"))
    out = []
    for key, label in sorted(labels.items()):
        if label["type"] != "ordonnance":
            continue
        path = ROOT / "tests/corpus/analysis" / label["file"]
        pages = [p.as_dict() for p in parse_document(path.read_bytes(), path.name).pages]
        found = medications(prepare(pages))
        for truth in label["fields"]["medications"]:
            for med in found:
                page = prepare(pages)[med["name"]["page"] - 1]
                ln = page.lines[page.line_at(med["name"]["span"][0])]
                text = page.text[ln.start : ln.end].strip()
                if fuzz.ratio(fold(truth["name"]), fold(med["name"]["value"])) < 75:
                    continue
                form = forms.get((fold(truth["name"]), truth["strength"]), "")
                form_given = bool(form) and fold(form.split()[0])[:3] in fold(text)
                want = (tuple(fold(truth["name"]).split()), dose_mg(truth["strength"]))
                ok = [
                    r
                    for r in rows
                    if (name_words(head_of(r["denomination"])), dose_mg(head_of(r["denomination"]))) == want
                ]
                printed = next((f for f in ("lyoph", "comp") if f in fold(text)), "")
                hand = HAND.get((fold(truth["name"]), truth["strength"], printed)) or HAND.get(
                    (fold(truth["name"]), truth["strength"])
                )
                if hand:
                    out.append({"line": text, "kind": "corpus", "acceptable": hand, "source_cis": None, "doc": key})
                    break
                if not ok:  # a substance name: the generic groups of that substance and dose
                    ok = [r for r in rows if r["group_label"] and group_dci(r["group_label"]) == want]
                if not ok:  # no dose in the denomination (SPASFON, comprimé enrobé): name words and the substance dose
                    ok = [
                        r
                        for r in rows
                        if name_words(head_of(r["denomination"])) == want[0]
                        and want[1]
                        and all(d in [x for s in r["substances"] for x in dose_mg(s["dosage"])] for d in want[1])
                    ]
                acceptable = sorted(r["cis"] for r in ok if not form_given or form_fits(r, fold(form.split()[0])))
                out.append({"line": text, "kind": "corpus", "acceptable": acceptable, "source_cis": None, "doc": key})
                break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--sources", type=int, default=170)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    lines = build(args.seed, args.sources)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for item in lines:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    kinds = defaultdict(int)
    for item in lines:
        kinds[item["kind"]] += 1
    unlabelled = sum(1 for i in lines if i["kind"] != "negative" and not i["acceptable"])
    print(f"{len(lines)} lines → {args.out}: {dict(kinds)}; unlabelled: {unlabelled}")


if __name__ == "__main__":
    main()
