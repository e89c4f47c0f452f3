"""How medicines are written: prescription lines and BDPM denominations reduced to comparable parts.

One reading for both sides, so a query and a denomination meet in the same terms:
folded text (lowercase, no accents), OCR look-alikes repaired (``D0LIPRANE``,
``1OOO mg``, ``O,25mg``), letters and digits split (``Doliprane1000``), doses
in a common unit (``1 g`` = ``1000 mg``, ``50 µg`` = ``50 microgrammes``),
prescribers' abbreviations turned into BDPM's form words (``cp`` → comprimé,
``sol buv`` → solution buvable), and a *skeleton* of names where the letters
OCR confuses (``l``/``i``/``1``, ``o``/``0``, ``rn``/``m``) are one letter.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz, process

# unit → (dimension, factor to the dimension's base: mg, UI, %)
UNITS: dict[str, tuple[str, float]] = {
    "g": ("mg", 1000.0),
    "mg": ("mg", 1.0),
    "ug": ("mg", 0.001),
    "mcg": ("mg", 0.001),
    "microgramme": ("mg", 0.001),
    "microgrammes": ("mg", 0.001),
    "gamma": ("mg", 0.001),
    "ng": ("mg", 0.000001),
    "ui": ("ui", 1.0),
    "u": ("ui", 1.0),
    "mui": ("ui", 1e6),
    "%": ("pct", 1.0),
}
# Prescribers' abbreviations and spellings → the stem of BDPM's form word.
FORM_WORDS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("cp", "cpr", "cpm", "cps", "comp", "compr", "comprime", "comprimes"), ("comprim",)),
    **dict.fromkeys(("gel", "gels"), ("gelul", "gel")),
    **dict.fromkeys(("gelule", "gelules", "gelul", "gl"), ("gelul",)),
    **dict.fromkeys(("sol", "soluti", "solution", "solutions"), ("solution",)),
    **dict.fromkeys(("buv", "buvable", "buvables"), ("buvabl",)),
    **dict.fromkeys(("inj", "injectable", "injectables", "inject"), ("injectabl",)),
    **dict.fromkeys(("susp", "suspension", "suspensions"), ("suspension",)),
    **dict.fromkeys(("pdre", "pdr", "poudre", "poudres", "pd"), ("poudr",)),
    **dict.fromkeys(("sach", "sachet", "sachets", "sachetdose"), ("sachet",)),
    **dict.fromkeys(("amp", "ampoule", "ampoules"), ("ampoul",)),
    **dict.fromkeys(("sirop", "sir"), ("sirop",)),
    **dict.fromkeys(("coll", "collyre"), ("collyr",)),
    **dict.fromkeys(("pom", "pomm", "pommade"), ("pommad",)),
    **dict.fromkeys(("creme", "cr"), ("crem",)),
    **dict.fromkeys(("supp", "suppo", "suppositoire", "suppositoires"), ("suppositoir",)),
    **dict.fromkeys(("lyoc", "lyophilisat"), ("lyophilisat",)),
    **dict.fromkeys(("orodisp", "orodispersible", "oro"), ("orodispersibl",)),
    **dict.fromkeys(("disp", "dispersible"), ("dispersibl",)),
    **dict.fromkeys(("eff", "efferv", "effervescent", "effervescente", "effervescents"), ("effervescent",)),
    **dict.fromkeys(("sec", "secable", "secables"), ("secabl",)),
    **dict.fromkeys(("pell", "pellic", "pellicule", "pellicules"), ("pellicul",)),
    **dict.fromkeys(("enr", "enrobe", "enrobes"), ("enrob",)),
    **dict.fromkeys(("gastro", "gastroresistant", "gastroresistante"), ("gastro",)),
    **dict.fromkeys(("caps", "capsule", "capsules"), ("capsul",)),
    **dict.fromkeys(("inhal", "inhalation", "inh"), ("inhalation",)),
    **dict.fromkeys(("gtt", "gouttes", "goutte"), ("goutt",)),
    **dict.fromkeys(("granule", "granules", "granul"), ("granul",)),
    **dict.fromkeys(("collut", "collutoire"), ("collutoir",)),
    **dict.fromkeys(("patch", "dispositif", "transdermique"), ("transdermiqu",)),
    **dict.fromkeys(("ovule", "ovules"), ("ovul",)),
    **dict.fromkeys(("film", "films"), ("film",)),
    **dict.fromkeys(("lp", "lm"), ()),  # release qualifiers are part of the name words, not the form
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FORM_HEADS = tuple(w for w in FORM_WORDS if len(w) >= 2)
_LONG_FORM_WORDS = [w for w in FORM_WORDS if len(w) >= 4 and FORM_WORDS[w]]
# Words that carry no identity on a prescription line.
NOISE = _words(
    "de du des d l le la les en pour a au aux et par avec sans boite boites bte b fl flacon x qsp unite unites "
    "resistant resistante resistants dose doses oral orale voie"
)
# Salt and hydrate words dropped from substance names (``AMOXICILLINE TRIHYDRATÉE`` → amoxicilline).
SALTS = _words(
    "chlorhydrate dichlorhydrate bromhydrate sodique disodique potassique calcique magnesique sulfate "
    "hemisulfate phosphate citrate acetate maleate fumarate tartrate succinate mesilate besilate tosilate "
    "lactate gluconate anhydre base monohydrate dihydrate trihydrate hemihydrate sesquihydrate trihydratee "
    "monohydratee dihydratee hemihydratee hydrate hydratee sel sodium potassium calcium magnesium de d l le la "
    "arginine lysine hemipentahydrate hemipentahydratee pentahydrate tetrahydrate decanoate propionate valerate"
)
_NUMBER = r"\d+(?:[ .]\d{3})*(?:[.,]\d+)?"
_DOSE = re.compile(
    rf"({_NUMBER}) ?(microgrammes?|gamma|mcg|ug|ng|mg|g|m ?ui|ui|u|%)(?![a-z])(?: ?/ ?(?:{_NUMBER})? ?(?:ml|g|dose|l))?"
)
_LOOKALIKE_RUN = re.compile(  # ``1OOO mg``, ``O,25mg``: a run holding a digit, before a unit or a non-letter
    r"(?<![a-z0-9])(?=[0-9oil|.,]*[0-9])[0-9oil|]+(?:[.,][0-9oil|]+)?"
    r"(?= ?(?:mg|ug|mcg|ui|ml|g|microgrammes?|%)(?![a-z]{3})|[^a-z0-9]|$)"
)
_TOKEN = re.compile(rf"{_NUMBER}|[a-z]+|%|§")


class _FoldTable(dict[int, str]):
    """``str.translate`` table filled on first sight of each character: accents dropped, ``µ`` → ``u``."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if char in "µμ":
            folded = "u"
        else:
            folded = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        self[code] = folded
        return folded


_FOLD = _FoldTable()


def fold(text: str) -> str:
    """Lowercase, accents dropped, ``µg``/``μg`` spelled ``ug``."""
    return (text if text.isascii() else text.translate(_FOLD)).lower()


_GLUED_RUN = re.compile(  # ``ARROW2O MG``: a number glued after a word, before its unit
    r"(?<=[a-z])(?=[0-9])[0-9oil|]+(?:[.,][0-9oil|]+)?(?= ?(?:mg|ug|mcg|ml|g|microgrammes?|%)(?![a-z]{3}))"
)
_AS_LETTER = str.maketrans("0158|", "olsbl")
_AS_DIGIT = str.maketrans("oil|", "0111")
_UNIT_MISREAD = re.compile(r"(?<=[0-9oil| ])(?:rng|rnq|mmg|mq)(?![a-z])")  # ``l5Orng``, ``250 mmg``
_MICRO = re.compile(r"m[il1|]cr[o0]gramm?[a-z]*")
_PERCENT = re.compile(r"\bpour ?cent\b")
_LONE_ONE = re.compile(r"(?<![a-z0-9])[l|](?= ?(?:(?:mg|g|ug|mcg|ml)(?![a-z]{3})|%))")  # ``l mg``, ``lMg``
_INNER = re.compile(
    r"(?<=[a-z])[0158|](?=[a-z])(?!(?:mg|ml|ug|mcg|g)(?![a-z]))"
)  # ``AM0XICILLINE``, ``GA8APENTINE``, ``DI5OPROXIL``
_LEADING = re.compile(r"(?<![a-z0-9.,])[058](?=([a-z]{2,}))")  # ``8IOGARAN``, ``5ANTE`` (not ``5mg``, ``5gel``)
_TRAILING = re.compile(r"(?<=[a-z]{2})[0158](?![a-z0-9])")  # ``gé1``, ``MONOCRIX0``, ``APTIVU5 250``
_GLUED_UNIT = re.compile(r"(?<=\d )(mg|ug|mcg|ml|ui)(?=[a-z])")  # ``0,25mgcp``


def _leading(m: re.Match[str]) -> str:
    word = m.group(1)
    if word.startswith(("mg", "ml", "mcg", "ug", "ui", "micro")) or any(word.startswith(f) for f in _FORM_HEADS):
        return m.group()
    return m.group().translate(_AS_LETTER)


def _trailing(m: re.Match[str]) -> str:
    after = m.string[m.end() : m.end() + 3]
    # ``gé1``, ``MONOCRIX0``: a letter unless a number or a unit follows; ``APTIVU5 250``: only before the strength
    keep = bool(re.match(r" ?[\d.,]| ?(?:mg|g |ug|ml)", after)) if m.group() in "01" else not re.match(r" \d", after)
    return m.group() if keep else m.group().translate(_AS_LETTER)


@functools.lru_cache(maxsize=65536)
def repair(text: str) -> str:
    """Folded text, OCR look-alikes repaired, letters and digits split (``d0liprane1OOOmg`` → ``doliprane 1000 mg``)."""
    text = _MICRO.sub("microgrammes", _UNIT_MISREAD.sub("mg", fold(text)))
    text = _PERCENT.sub("%", text)
    text = _LONE_ONE.sub("1", text)
    text = _LOOKALIKE_RUN.sub(lambda m: m.group().translate(_AS_DIGIT), text)
    text = _GLUED_RUN.sub(lambda m: " " + m.group().translate(_AS_DIGIT), text)
    text = _INNER.sub(lambda m: m.group().translate(_AS_LETTER), text)
    text = _LEADING.sub(_leading, text)
    text = _TRAILING.sub(_trailing, text)
    text = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", text)
    text = _GLUED_UNIT.sub(r"\1 ", text)
    return re.sub(r"[^a-z0-9%.,/+ ]+", " ", text)


def skeleton(text: str) -> str:
    """Letters only, with the letters OCR confuses made one (the form names are compared in)."""
    s = re.sub(r"[^a-z0-9]", "", text)
    s = s.replace("rn", "m").replace("vv", "w").replace("cl", "d")
    return s.translate(str.maketrans("l1|0", "iioo"))


def number(text: str) -> float:
    return float(re.sub(r"[ .](?=\d{3})", "", text).replace(",", "."))


@functools.lru_cache(maxsize=65536)
def doses(text: str) -> tuple[tuple[str, float], ...]:
    """Every dose in repaired text as (dimension, value in base unit), in order."""
    out = []
    for value, unit, *_ in (m.groups() for m in _DOSE.finditer(text)):
        dim, factor = UNITS[unit.replace(" ", "")]
        out.append((dim, round(number(value) * factor, 6)))
    return tuple(out)


@functools.lru_cache(maxsize=65536)
def printed_numbers(text: str) -> frozenset[float]:
    """The numbers written before a unit, as printed (``1000 mg`` → 1000, ``50 microgrammes`` → 50)."""
    return frozenset(number(m.group(1)) for m in _DOSE.finditer(text))


_ENDING = re.compile(r"(?:es|s|e)$")


def stem(word: str) -> str:
    return _ENDING.sub("", word) if len(word) > 3 else word


@functools.lru_cache(maxsize=65536)
def form_stems(text: str) -> frozenset[str]:
    """Stems of the form words of a BDPM form or denomination tail (``comprimé pelliculé sécable``)."""
    words = re.findall(r"[a-z]+", fold(re.sub(r"\((?:e|s|es)\)", "", text)))
    return frozenset(stem(w) for w in words)


@functools.lru_cache(maxsize=65536)
def substance_name(name: str) -> str:
    """A substance name without salt or hydrate words and parentheses (``CHLORHYDRATE DE METFORMINE`` → metformine)."""
    words = re.findall(r"[a-z]+", fold(re.sub(r"\(.*?\)", " ", name)))
    kept = [w for w in words if w not in SALTS]
    return " ".join(kept or words)


@dataclass(frozen=True)
class Line:
    """A prescription line read: name words, doses, bare numbers, form stems, other words."""

    name: tuple[str, ...]
    doses: tuple[tuple[str, float], ...]
    bare: tuple[float, ...]
    forms: tuple[tuple[str, ...], ...]
    extra: tuple[str, ...]


def form_word(token: str) -> tuple[str, ...] | None:
    """The form stems a line's word stands for (``cp``, ``gél``, ``cornprimé`` misread), or None."""
    token = token.replace("rn", "m")
    if token in FORM_WORDS:
        return FORM_WORDS[token]
    if len(token) >= 5:
        best = process.extractOne(token, _LONG_FORM_WORDS, scorer=fuzz.ratio, score_cutoff=80)
        if best:
            return FORM_WORDS[best[0]]
    return None


def read_line(text: str) -> Line:
    """Split a prescription line into what the matcher compares."""
    fixed = repair(text)
    found = doses(fixed)
    tokens = _TOKEN.findall(_DOSE.sub(" § ", fixed))
    name: list[str] = []
    extra: list[str] = []
    bare: list[float] = []
    forms: list[tuple[str, ...]] = []
    seen_number = False
    for tok in tokens:
        if tok[0].isdigit() or tok in "%§":
            if tok[0].isdigit() and not found and not seen_number:
                bare.append(number(tok))  # ``Doliprane 1000`` (or ``2 cp``, a quantity: then it matches no strength)
            seen_number = True
            continue
        stems = form_word(tok) if (seen_number or name) else FORM_WORDS.get(tok)
        if stems is not None:
            if stems:
                forms.append(stems)
            else:
                (extra if seen_number else name).append(tok)
        elif tok in NOISE or tok in UNITS:
            continue
        elif not seen_number and not forms:
            name.append(tok)
        else:
            extra.append(tok)
    if not name and extra:
        name, extra = extra[:2], extra[2:]
    return Line(tuple(name), found, tuple(bare), tuple(forms), tuple(extra))
