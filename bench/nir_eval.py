"""Measure the NIR detector: recall on a generated corpus of layouts, false masks on near-misses and on the analysis
corpus, and its throughput against an older version of the detector.

    python bench/nir_eval.py [--seed 15] [--per-layout 14] [--baseline-rev main] [--runs 7] [--json]

The corpus is generated deterministically (same seed, same cases): valid NIRs (metropolitan, Corsica 2A/2B,
overseas 97x, abroad 99, unknown months) printed in every layout the detector must read, inside French context
lines, and near-misses it must leave alone (RPPS, AMC and adherent numbers, phone numbers, amounts, dates, CIP13
and other EAN-13 codes, IBAN, SIRET, 15-digit numbers whose key is wrong, masked forms). On the analysis corpus
(``tests/corpus/analysis``, real Tesseract output, read unmasked by the ingestion parsers) every mask that touches
a labelled RPPS, AMC or adherent number or a phone number is a false mask. Throughput: median over ``--runs`` of
the time to scan every page of the analysis corpus, this detector and the one at ``--baseline-rev`` (``git show``).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import time
import types
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from models.nir import find_nirs, fold, mask  # noqa: E402
from worker.ingest.parse import PARSERS  # noqa: E402
from worker.ingest.sniff import decode, hint_from_name, sniff  # noqa: E402

ANALYSIS = ROOT / "tests" / "corpus" / "analysis"
FULLWIDTH = {str(d): chr(0xFF10 + d) for d in range(10)}
DEVANAGARI = {str(d): chr(0x0966 + d) for d in range(10)}


@dataclass(frozen=True)
class Case:
    layout: str
    text: str
    body: str | None = None  # a NIR case: the 13 characters, printed at [start, body_end)
    start: int = 0
    body_end: int = 0


# ---- valid NIRs --------------------------------------------------------------------------------------------
def key_of(body: str) -> str:
    return f"{97 - int(body.replace('2A', '19').replace('2B', '18')) % 97:02d}"


def make_body(rng: random.Random) -> str:
    sex = rng.choice("1111222223478")
    year = f"{rng.randint(0, 99):02d}"
    month = f"{rng.choice([rng.randint(1, 12)] * 6 + [rng.randint(20, 42), rng.randint(50, 99)]):02d}"
    kind = rng.choice(["metro"] * 6 + ["corsica", "overseas", "abroad"])
    if kind == "metro":
        place = f"{rng.randint(1, 95):02d}{rng.randint(1, 990):03d}"
    elif kind == "corsica":
        place = rng.choice(["2A", "2B"]) + f"{rng.randint(1, 990):03d}"
    elif kind == "overseas":
        place = f"{rng.choice([971, 972, 973, 974, 976, 987, 988])}{rng.randint(1, 90):02d}"
    else:
        place = f"99{rng.randint(100, 520):03d}"
    return sex + year + month + place + f"{rng.randint(1, 999):03d}"


def groups(body: str) -> list[str]:
    """How cards print it: 1 2 2 2 3 3 (an overseas département keeps the same cut)."""
    return [body[0], body[1:3], body[3:5], body[5:7], body[7:10], body[10:13]]


def joined(body: str, sep: str) -> str:
    return sep.join(groups(body))


def overseas_cut(body: str) -> str:
    return " ".join([body[0], body[1:3], body[3:5], body[5:8], body[8:10], body[10:13]])


def digits_as(table: dict[str, str], s: str) -> str:
    return "".join(table.get(c, c) for c in s)


def ocr_noise(body: str) -> str:
    g = groups(body)
    g[0] = {"1": "l"}.get(g[0], g[0])
    g[2] = g[2].replace("0", "O", 1)
    return " ".join(g)


# layout -> (printed NIR without what follows the body, what follows the body); {k} is the key
LAYOUTS: dict[str, Callable[[str, str], tuple[str, str]]] = {
    "spaced": lambda b, k: (joined(b, " "), f" {k}"),
    "compact": lambda b, k: (b, k),
    "double_spaces": lambda b, k: (joined(b, "  "), f"  {k}"),
    "tabs": lambda b, k: (joined(b, "\t"), f"\t{k}"),
    "nbsp": lambda b, k: (joined(b, "\u00a0"), f"\u00a0{k}"),
    "narrow_nbsp": lambda b, k: (joined(b, "\u202f"), f"\u202f{k}"),
    "dots": lambda b, k: (joined(b, "."), f".{k}"),
    "dashes": lambda b, k: (joined(b, "-"), f"-{k}"),
    "en_dashes": lambda b, k: (joined(b, "\u2013"), f"\u2013{k}"),
    "slash_key": lambda b, k: (joined(b, " "), f" / {k}"),
    "paren_key": lambda b, k: (joined(b, " "), f" ({k})"),
    "cle_key": lambda b, k: (joined(b, " "), f" clé {k}"),
    "cle_colon_key": lambda b, k: (joined(b, " "), f" Clé : {k}"),
    "key_next_line": lambda b, k: (joined(b, " "), f"\n{k}"),
    "hocr_two_lines": lambda b, k: (" ".join(groups(b)[:3]) + "\n" + " ".join(groups(b)[3:]), f"\n{k}"),
    "keyless_spaced": lambda b, k: (joined(b, " "), ""),
    "keyless_compact": lambda b, k: (b, ""),
    "keyless_next_line_date": lambda b, k: (joined(b, " "), "\nle 12/03/2026"),
    "glued_prefix": lambda b, k: (b, k),
    "fullwidth": lambda b, k: (digits_as(FULLWIDTH, b), digits_as(FULLWIDTH, k)),
    "fullwidth_spaced": lambda b, k: (digits_as(FULLWIDTH, joined(b, "\u3000")), "\u3000" + digits_as(FULLWIDTH, k)),
    "devanagari": lambda b, k: (digits_as(DEVANAGARI, joined(b, " ")), " " + digits_as(DEVANAGARI, k)),
    "overseas_cut": lambda b, k: (overseas_cut(b), f" {k}"),
    "ocr_lookalikes": lambda b, k: (ocr_noise(b), f" {k}"),
    "file_name": lambda b, k: (b, k),
    "underscores": lambda b, k: (joined(b, "_"), f"_{k}"),
    "middle_dots": lambda b, k: (joined(b, "\u00b7"), f"\u00b7{k}"),
    "comma_cle_key": lambda b, k: (joined(b, " "), f", clé {k}"),
    "semicolon_key": lambda b, k: (joined(b, " "), f"; {k}"),
    "cle_equals_key": lambda b, k: (joined(b, " "), f" clé = {k}"),
}
CONTEXTS = {
    "glued_prefix": ["NIR{}", "N°SS{}", "secu:{}"],
    "file_name": ["DUPONT Jean {}.txt", "scan_{}_ordonnance.pdf.json", "inbox/u-1/{}.hocr"],
    "hocr_two_lines": ["N° {}", "Assuré {}"],
}
DEFAULT_CONTEXTS = [
    "{}",
    "Assuré : {} — fin",
    "N° SS : {}",
    "N° de sécurité sociale {}.",
    "MOREL Sophie 16/11/1954 {}",
    '{{"nir": "{}"}}',
    "Bénéficiaire\n{}\nMOREL Luc",
]


def _ambiguous(layout: str, body: str) -> bool:
    """A body printed unbroken without key that is also a right EAN-13 starting with 3: a product code by rule."""
    if not (layout.startswith("keyless_compact") and body[0] == "3" and body.isdigit()):
        return False
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body[:12]))
    return (10 - total % 10) % 10 == int(body[12])


def nir_cases(seed: int = 15, per_layout: int = 14) -> tuple[list[Case], int]:
    """The NIR occurrences (every layout, ``per_layout`` each) and how many ambiguous draws were set aside."""
    rng = random.Random(seed)
    cases, ambiguous = [], 0
    for layout, printer in LAYOUTS.items():
        contexts = CONTEXTS.get(layout, DEFAULT_CONTEXTS)
        made = 0
        while made < per_layout:
            body = make_body(rng)
            if layout in ("overseas_cut",) and body[5:7] not in ("97", "98"):
                body = body[:5] + f"97{rng.randint(1, 6)}" + body[8:]
            if _ambiguous(layout, body):
                ambiguous += 1
                continue
            printed, after = printer(body, key_of(body))
            context = contexts[made % len(contexts)]
            before = context.split("{}")[0].replace("{{", "{")
            text = context.replace("{{", "{").replace("}}", "}").replace("{}", printed + after)
            cases.append(Case(layout, text, body, len(before), len(before) + len(printed)))
            made += 1
    return cases, ambiguous


# ---- near-misses -------------------------------------------------------------------------------------------
def _luhn_digit(body: str) -> str:
    for d in "0123456789":
        total = 0
        for i, ch in enumerate(reversed(body + d)):
            n = int(ch) * (2 if i % 2 else 1)
            total += n - 9 if n > 9 else n
        if total % 10 == 0:
            return d
    raise AssertionError


def _ean(body12: str) -> str:
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def near_miss_cases(seed: int = 15, per_kind: int = 12) -> list[Case]:
    rng = random.Random(seed + 1)
    makers: dict[str, Callable[[], str]] = {
        "rpps": lambda: f"N° RPPS : {(lambda r: r + _luhn_digit(r))('10' + _digits(rng, 8))}",
        "rpps_then_street": lambda: (
            f"RPPS {(lambda r: r + _luhn_digit(r))('10' + _digits(rng, 8))}\n{rng.randint(1, 99)} rue de la Paix"
        ),
        "rpps_grouped": lambda: (
            "RPPS "
            + (lambda r: f"{r[:2]} {r[2:5]} {r[5:8]} {r[8:]}")((lambda r: r + _luhn_digit(r))("10" + _digits(rng, 8)))
        ),
        "amc": lambda: f"Organisme complémentaire (AMC) {_digits(rng, rng.choice([8, 9, 10]))}",
        "adherent": lambda: f"N° d'adhérent : {_digits(rng, rng.choice([6, 9, 11, 12]))}",
        "phone": lambda: f"Tél. 0{rng.randint(1, 9)} {' '.join(_digits(rng, 2) for _ in range(4))}",
        "phone_dots": lambda: f"Tel 0{rng.randint(1, 9)}.{'.'.join(_digits(rng, 2) for _ in range(4))}",
        "phone_intl": lambda: f"+33 {rng.randint(1, 9)} {' '.join(_digits(rng, 2) for _ in range(4))}",
        "phone_intl_paren": lambda: f"+33 (0){rng.randint(1, 9)} {' '.join(_digits(rng, 2) for _ in range(4))}",
        "two_phones": lambda: (
            f"Tél 0{rng.randint(1, 9)} {' '.join(_digits(rng, 2) for _ in range(4))}\n"
            f"0{rng.randint(1, 9)} {' '.join(_digits(rng, 2) for _ in range(4))}"
        ),
        "phone_compact": lambda: f"06{_digits(rng, 8)}",
        "amount": lambda: f"Total {rng.randint(1, 999)} {rng.randint(100, 999)},{_digits(rng, 2)} €",
        "dates": lambda: (
            f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/20{rng.randint(10, 30)} - "
            f"{rng.randint(1, 28):02d}-{rng.randint(1, 12):02d}-20{rng.randint(10, 30)}"
        ),
        "dates_dots": lambda: (
            f"{rng.randint(1, 28)}.{rng.randint(1, 12):02d}.20{rng.randint(10, 30)} "
            f"{rng.randint(1, 28)}.{rng.randint(1, 12):02d}.20{rng.randint(10, 30)}"
        ),
        "cip13": lambda: f"CIP {_ean('34009' + _digits(rng, 7))}",
        "cip13_zeros": lambda: _ean("3400930" + _digits(rng, 5)),
        "ean13_fr": lambda: f"EAN {_ean(str(rng.randint(30, 37)) + _digits(rng, 10))}",
        "iban": lambda: "FR76 " + " ".join(_digits(rng, 4) for _ in range(5)) + " " + _digits(rng, 3),
        "siret": lambda: f"SIRET {_digits(rng, 3)} {_digits(rng, 3)} {_digits(rng, 3)} {_digits(rng, 5)}",
        "wrong_key_unbroken": lambda: (lambda b: b + f"{(int(key_of(b)) + rng.randint(1, 50)) % 97 + 1:02d}")(
            make_body(rng)
        ),
        "masked_form": lambda: "Assuré : " + mask(make_body(rng)),
        "postcode_street": lambda: f"{rng.randint(1, 99)} rue des Lilas {rng.randint(10, 95)}{_digits(rng, 3)} Lyon",
    }
    cases = []
    for kind, make in makers.items():
        for _ in range(per_kind):
            text = make()
            if kind == "wrong_key_unbroken" and key_of(text[:13]) == text[13:]:
                continue
            cases.append(Case(kind, text))
    return cases


# ---- scoring -----------------------------------------------------------------------------------------------
def found(case: Case, detect: Callable[[str], list[Any]] = find_nirs) -> bool:
    """A NIR case is found when one mask starts where it is printed, covers its 13 characters, reads them right."""
    assert case.body is not None
    return any(
        m.start == case.start and m.end >= case.body_end and m.masked == mask(case.body) for m in detect(case.text)
    )


def raw_pages(path: Path) -> list[str]:
    """The pages of an analysis-corpus file as the parsers read them, before any masking."""
    text = decode(path.read_bytes())
    return [p.text for p in PARSERS[sniff(text, hint_from_name(path.name))](text).pages]


_PHONE = re.compile(r"(?:\+33\s?(?:\(0\)\s?)?|(?<![0-9])0)[1-9](?:[\s.-]?[0-9]{2}){4}(?![0-9])")


def _spans_of(digits: str, text: str) -> list[tuple[int, int]]:
    pattern = r"[\s.-]?".join(re.escape(c) for c in digits)
    return [(m.start(), m.end()) for m in re.finditer(rf"(?<![0-9]){pattern}(?![0-9])", text)]


def analysis_corpus(corpus: Path = ANALYSIS) -> dict[str, Any]:
    """Masks on the analysis corpus: on its labelled RPPS/AMC/adherent numbers and phones (false), and the rest."""
    labels = json.loads((corpus / "labels.json").read_text())
    protected = Counter()
    false_masks: Counter[str] = Counter()
    nir_found = nir_total = other = 0
    for truth in labels.values():
        fields = truth["fields"]
        numbers = {k: fields[k] for k in ("rpps", "amc_number", "adherent_number") if fields.get(k)}
        nir = truth.get("nir")
        seen = False
        for page in raw_pages(corpus / truth["file"]):
            folded = fold(page)
            spans = [(kind, s) for kind, value in numbers.items() for s in _spans_of(value, folded)]
            spans += [("phone", (m.start(), m.end())) for m in _PHONE.finditer(folded)]
            protected.update(kind for kind, _ in spans)
            for m in find_nirs(page):
                hits = [kind for kind, (a, b) in spans if m.start < b and a < m.end]
                false_masks.update(hits)
                if nir and m.masked == mask(nir[:13]):
                    seen = True
                elif not hits:
                    other += 1
        if nir:
            nir_total += 1
            nir_found += seen
    return {
        "protected_numbers": dict(protected),
        "false_masks": dict(false_masks),
        "false_masks_total": sum(false_masks.values()),
        "labelled_nirs": nir_total,
        "labelled_nirs_masked": nir_found,
        "other_masks": other,
    }


def baseline_detector(rev: str) -> Callable[[str], list[Any]] | None:
    """``find_nirs`` of ``worker/privacy.py`` at ``rev`` (the detector before it moved to models/), or None."""
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:worker/privacy.py"], capture_output=True, check=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("nir_baseline")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:worker/privacy.py", "exec"), module.__dict__)  # our own history, not input
    return getattr(module, "find_nirs", None)


def throughput(pages: list[str], detectors: list[Callable[[str], list[Any]]], runs: int) -> list[float]:
    """Median MB/s of each detector over every page (10 passes a run); runs interleaved so that machine load hits
    both alike."""
    pages = pages * 10
    size = sum(len(p.encode()) for p in pages) / 1e6
    times: list[list[float]] = [[] for _ in detectors]
    for _ in range(runs):
        for i, detect in enumerate(detectors):
            t0 = time.perf_counter()
            for page in pages:
                detect(page)
            times[i].append(time.perf_counter() - t0)
    return [size / statistics.median(t) for t in times]


def evaluate(seed: int = 15, per_layout: int = 14, baseline_rev: str | None = None, runs: int = 21) -> dict[str, Any]:
    cases, ambiguous = nir_cases(seed, per_layout)
    missed = [c for c in cases if not found(c)]
    by_layout = Counter(c.layout for c in cases)
    missed_by_layout = Counter(c.layout for c in missed)
    near = near_miss_cases(seed)
    false = [c for c in near if find_nirs(c.text)]
    result: dict[str, Any] = {
        "nir_occurrences": len(cases),
        "layouts": len(by_layout),
        "recall": round(1 - len(missed) / len(cases), 4),
        "missed_by_layout": dict(missed_by_layout),
        "missed_examples": [c.text for c in missed[:5]],
        "ambiguous_set_aside": ambiguous,
        "near_misses": len(near),
        "near_miss_kinds": len({c.layout for c in near}),
        "near_misses_masked": len(false),
        "near_miss_examples": [c.text for c in false[:5]],
        "analysis_corpus": analysis_corpus(),
    }
    if baseline_rev:
        old = baseline_detector(baseline_rev)
        if old is not None:
            result["baseline_recall"] = round(sum(found(c, old) for c in cases) / len(cases), 4)
            result["baseline_near_misses_masked"] = sum(bool(old(c.text)) for c in near)
            pages = [p for f in sorted(ANALYSIS.glob("*-*")) for p in raw_pages(f)]
            new_mbs, old_mbs = throughput(pages, [find_nirs, old], runs)
            result["throughput_mb_s"] = {"new": round(new_mbs, 2), "baseline": round(old_mbs, 2)}
            result["throughput_ratio_new_over_baseline"] = round(new_mbs / old_mbs, 2)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--per-layout", type=int, default=14)
    parser.add_argument("--baseline-rev", default="main", help="git revision of the detector to compare with")
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = evaluate(args.seed, args.per_layout, args.baseline_rev, args.runs)
    if args.json:
        print(json.dumps(result, indent=1, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    ok = result["recall"] == 1.0 and not result["near_misses_masked"] and not result["analysis_corpus"]["false_masks"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
