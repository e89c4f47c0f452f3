"""Content of the synthetic evaluation documents: invented people, realistic French wording, ground truth.

Each builder returns ``(pages, truth)``: ``pages`` is a list of pages, a page a
list of lines, a line a list of segments ``(x, text, style)`` with ``x`` the
left edge as a fraction of the page width (two segments on one line make the
merged columns OCR produces). ``truth`` is the label the evaluation scores
against. Everything is drawn from a seeded ``random.Random`` so the corpus is
reproducible; the wording varies on purpose (layouts, orderings, formats) and
is not written to suit the extractor.
"""

from __future__ import annotations

import datetime as _dt
import random

FIRST = [
    "Jean",
    "Marie",
    "Pierre",
    "Sophie",
    "Luc",
    "Camille",
    "Nathalie",
    "Éric",
    "Hélène",
    "François",
    "Julien",
    "Aurélie",
    "Thierry",
    "Céline",
    "Mathieu",
    "Inès",
    "Karim",
    "Léa",
    "Noël",
    "Agnès",
    "Benoît",
    "Chloé",
    "Djamel",
    "Élodie",
    "Gaëlle",
    "Hugo",
    "Isabelle",
    "Jérôme",
    "Manon",
    "Yannick",
]
LAST = [
    "Martin",
    "Bernard",
    "Lefèvre",
    "Moreau",
    "Garnier",
    "Rousseau",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupuis",
    "Lambert",
    "Fontaine",
    "Chevalier",
    "Mercier",
    "Blanchard",
    "Guérin",
    "Boyer",
    "Lemoine",
    "Perrin",
    "Morel",
    "Gauthier",
    "Clément",
    "Roche",
    "Leroy",
    "Barbier",
    "Hamon",
    "Le Gall",
    "Benali",
    "Nguyen",
    "Da Silva",
    "Ferrand",
    "Lacroix",
    "Vasseur",
    "Péron",
]
CITIES = [
    ("Paris", "75"),
    ("Lyon", "69"),
    ("Marseille", "13"),
    ("Toulouse", "31"),
    ("Nantes", "44"),
    ("Rennes", "35"),
    ("Lille", "59"),
    ("Bordeaux", "33"),
    ("Ajaccio", "2A"),
    ("Bastia", "2B"),
    ("Grenoble", "38"),
    ("Dijon", "21"),
    ("Brest", "29"),
    ("Tours", "37"),
    ("Nancy", "54"),
]
STREETS = [
    "rue de la République",
    "avenue Jean Jaurès",
    "boulevard Victor Hugo",
    "rue Pasteur",
    "place du Marché",
    "rue des Lilas",
    "chemin des Écoliers",
    "rue Émile Zola",
    "allée des Tilleuls",
    "quai Saint-Michel",
]
SPECIALTIES = [
    "Médecine générale",
    "Médecin généraliste",
    "Pédiatrie",
    "Cardiologie",
    "Dermatologie",
    "Rhumatologie",
    "Gynécologie médicale",
    "Endocrinologie",
    "Pneumologie",
    "ORL",
]
MONTHS = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]
# (printed name, truth name, strength, form) — real BDPM denominations, printed the way prescribers write them.
MEDICATIONS = [
    ("DOLIPRANE", "DOLIPRANE", "1000 mg", "comprimé"),
    ("DOLIPRANE", "DOLIPRANE", "500 mg", "gélule"),
    ("Doliprane", "DOLIPRANE", "1 g", "comprimé"),
    ("AMOXICILLINE", "AMOXICILLINE", "500 mg", "gélule"),
    ("Amoxicilline", "AMOXICILLINE", "1 g", "comprimé dispersible"),
    ("LEVOTHYROX", "LEVOTHYROX", "50 µg", "comprimé sécable"),
    ("Levothyrox", "LEVOTHYROX", "75 µg", "comprimé"),
    ("KARDEGIC", "KARDEGIC", "75 mg", "poudre pour solution buvable en sachet"),
    ("SPASFON", "SPASFON", "80 mg", "comprimé"),
    ("IBUPROFÈNE", "IBUPROFENE", "400 mg", "comprimé pelliculé"),
    ("Ibuprofène", "IBUPROFENE", "200 mg", "comprimé"),
    ("EFFERALGAN", "EFFERALGAN", "1 g", "comprimé effervescent"),
    ("METFORMINE", "METFORMINE", "850 mg", "comprimé pelliculé"),
    ("AMLODIPINE", "AMLODIPINE", "5 mg", "gélule"),
    ("ATORVASTATINE", "ATORVASTATINE", "20 mg", "comprimé pelliculé"),
    ("OMÉPRAZOLE", "OMEPRAZOLE", "20 mg", "gélule gastro-résistante"),
    ("ESOMEPRAZOLE", "ESOMEPRAZOLE", "40 mg", "comprimé gastro-résistant"),
    ("VENTOLINE", "VENTOLINE", "100 µg/dose", "suspension pour inhalation"),
    ("AUGMENTIN", "AUGMENTIN", "1 g/125 mg", "poudre pour suspension buvable"),
    ("SMECTA", "SMECTA", "3 g", "poudre pour suspension buvable"),
    ("TRAMADOL", "TRAMADOL", "50 mg", "gélule"),
    ("BISOPROLOL", "BISOPROLOL", "5 mg", "comprimé sécable"),
    ("RAMIPRIL", "RAMIPRIL", "5 mg", "comprimé"),
    ("XANAX", "XANAX", "0,25 mg", "comprimé sécable"),
    ("ZOLPIDEM", "ZOLPIDEM", "10 mg", "comprimé sécable"),
    ("DAFALGAN", "DAFALGAN", "1 g", "comprimé"),
    ("FORLAX", "FORLAX", "10 g", "poudre pour solution buvable"),
    ("INEXIUM", "INEXIUM", "20 mg", "comprimé gastro-résistant"),
    ("SOLUPRED", "SOLUPRED", "20 mg", "comprimé orodispersible"),
    ("CÉTIRIZINE", "CETIRIZINE", "10 mg", "comprimé"),
    ("DESLORATADINE", "DESLORATADINE", "5 mg", "comprimé"),
    ("PIASCLEDINE", "PIASCLEDINE", "300 mg", "gélule"),
    ("Spasfon", "SPASFON", "80 mg", "lyophilisat oral"),
    ("ASPÉGIC", "ASPEGIC", "1000 mg", "poudre"),
]
POSOLOGIES = [
    "1 comprimé 3 fois par jour",
    "1 cp matin, midi et soir",
    "2 comprimés par jour",
    "1 gélule le soir",
    "1 comprimé le matin à jeun",
    "1 sachet par jour",
    "2 bouffées si besoin",
    "1 à 2 cp si douleur, max 3/j",
    "1 gélule 2 fois par jour",
    "1 cp x 3/j",
]
DURATIONS = ["pendant 5 jours", "pendant 7 jours", "pendant 10 jours", "pendant 3 mois", "pendant 1 mois", ""]
INSURERS = [
    "MGEN",
    "Harmonie Mutuelle",
    "Mutuelle Générale",
    "Malakoff Humanis",
    "AG2R La Mondiale",
    "MAAF Santé",
    "Mutuelle Bleue",
    "Intériale",
    "Mutuelle des Cèdres",
    "Solimut Mutuelle",
    "Groupama Gan Vie",
    "Apréva Mutuelle",
]
COVERAGE_CODES = [
    "PHAR",
    "MED",
    "SVIL",
    "CSTE",
    "TRAN",
    "DESO",
    "DEPR",
    "DEOR",
    "OPAU",
    "HOSP",
    "EXTE",
    "PHCO",
    "PHNO",
    "PHOR",
    "MEDE",
    "AUDI",
    "DENT",
    "OPTI",
]
COVERAGE_VALUES = ["100%", "100% BR", "100%BR", "200%", "300%", "150% BR", "PEC", "NON", "100 %"]
ACTS = [
    ("G", "30,00"),
    ("GS", "30,00"),
    ("CS", "30,00"),
    ("APC", "55,00"),
    ("MPC", "5,00"),
    ("MD", "10,00"),
    ("VG", "30,00"),
    ("COE", "60,00"),
    ("DEQP003", "14,52"),
    ("QZFA004", "69,12"),
    ("MEG", "5,00"),
    ("TCG", "25,00"),
]


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def make_rpps(rng: random.Random) -> str:
    body = "10" + "".join(rng.choice("0123456789") for _ in range(8))
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


def make_nir(rng: random.Random) -> tuple[str, str]:
    """A key-valid NIR (Corsica sometimes) and the way it is printed."""
    sex, year, month = rng.choice("12"), f"{rng.randint(40, 99):02d}", f"{rng.randint(1, 12):02d}"
    dept = rng.choice(["75", "69", "13", "2A", "2B", "44", "59", "33"])
    commune, order = f"{rng.randint(1, 999):03d}", f"{rng.randint(1, 999):03d}"
    body = sex + year + month + dept + commune + order
    number = int(body.replace("2A", "19").replace("2B", "18"))
    key = f"{97 - number % 97:02d}"
    printed = rng.choice(
        [
            f"{sex} {year} {month} {dept} {commune} {order} {key}",
            body + key,
            f"{sex} {year} {month} {dept} {commune} {order}  {key}",
        ]
    )
    return body + key, printed


def person(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST), rng.choice(LAST)


def rand_date(rng: random.Random, start: _dt.date = _dt.date(2024, 1, 1), days: int = 800) -> _dt.date:
    return start + _dt.timedelta(days=rng.randrange(days))


def fmt_date(rng: random.Random, d: _dt.date, long_ok: bool = True) -> str:
    styles = ["%d/%m/%Y", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y"]
    if long_ok and rng.random() < 0.35:
        return f"{d.day if rng.random() < 0.5 else f'{d.day:02d}'} {MONTHS[d.month - 1]} {d.year}"
    return d.strftime(rng.choice(styles))


def address(rng: random.Random) -> tuple[str, str]:
    city, dept = rng.choice(CITIES)
    zip_code = (dept.replace("2A", "20").replace("2B", "20") + f"{rng.randint(0, 9)}{rng.randint(0, 9)}0")[:5]
    return f"{rng.randint(1, 120)} {rng.choice(STREETS)}", f"{zip_code} {city}"


def am_number(rng: random.Random) -> str:
    return f"{rng.randint(10, 95)}{rng.randint(1, 9)}{rng.randint(10000, 99999)}{rng.randint(0, 9)}"


def spaced(rng: random.Random, digits: str, p: float = 0.25) -> str:
    """Digits as some printers group them (spaces inside numbers)."""
    if rng.random() >= p:
        return digits
    cut = rng.choice([(2, 5), (3, 6), (1, 4, 7)])
    parts, last = [], 0
    for c in cut:
        parts.append(digits[last:c])
        last = c
    return " ".join(parts + [digits[last:]])


def ordonnance(rng: random.Random) -> tuple[list, dict]:
    first, last = person(rng)
    pfirst, plast = person(rng)
    rpps = make_rpps(rng)
    d = rand_date(rng)
    street, city = address(rng)
    dr = rng.choice(
        [
            f"Dr {first} {last.upper()}",
            f"Docteur {first} {last}",
            f"Dr {first[0]}. {last}",
            f"Dr. {last.upper()} {first}",
        ]
    )
    rpps_label = rng.choice(["RPPS", "N° RPPS", "N° RPPS :", "RPPS :", "Identifiant RPPS", "RPPS n°"])
    header = [
        dr,
        rng.choice(SPECIALTIES),
        street,
        city,
        f"Tél. 0{rng.randint(1, 5)} {rng.randint(10, 99)} "
        f"{rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        f"{rpps_label} {spaced(rng, rpps, 0.2)}",
    ]
    if rng.random() < 0.5:
        header.append(f"N° AM {am_number(rng)}")
    city_name = city.split(" ", 1)[1]
    date_line = rng.choice(
        [
            f"Le {fmt_date(rng, d)}",
            f"{city_name}, le {fmt_date(rng, d)}",
            f"Fait le {fmt_date(rng, d)}",
            f"Date : {fmt_date(rng, d, False)}",
        ]
    )
    patient = rng.choice(
        [
            f"M. {pfirst} {plast.upper()}",
            f"Mme {pfirst} {plast}",
            f"{plast.upper()} {pfirst}",
            f"Patient : {pfirst} {plast}",
        ]
    )
    meds = rng.sample(MEDICATIONS, rng.randint(1, 4))
    renew = rng.choice([0, 0, 0, 1, 2, 3])
    lines: list = []
    if rng.random() < 0.5:  # two columns: doctor left, date/patient right (merged by OCR)
        right = [date_line, "", patient] + [""] * (len(header) - 3)
        for left, r in zip(header, right):
            lines.append([(0.07, left, "b" if left is header[0] else "")] + ([(0.58, r, "")] if r else []))
        lines.append([])
    else:
        lines += [[(0.07, h, "b" if i == 0 else "")] for i, h in enumerate(header)]
        lines += [[], [(0.55, date_line, "")], [], [(0.07, patient, "")], []]
    if rng.random() < 0.3:
        lines.append([(0.07, f"Poids : {rng.randint(12, 95)} kg", "")])
    if rng.random() < 0.6:
        lines.append([(0.35, rng.choice(["ORDONNANCE", "Ordonnance", "PRESCRIPTION"]), "b")])
        lines.append([])
    med_truth = []
    for i, (printed, truth, strength, form) in enumerate(meds):
        bullet = rng.choice(["", f"{i + 1}) ", f"{i + 1}. ", "- "])
        form_txt = form if rng.random() < 0.7 else ""
        name_line = f"{bullet}{printed} {strength}" + (
            f", {form_txt}" if form_txt and rng.random() < 0.5 else (f" {form_txt}" if form_txt else "")
        )
        posology = rng.choice(POSOLOGIES)
        duration = rng.choice(DURATIONS)
        lines.append([(0.1, name_line, "b" if rng.random() < 0.4 else "")])
        lines.append([(0.14, f"{posology} {duration}".strip(), "")])
        if rng.random() < 0.3:
            lines.append([(0.14, rng.choice(["QSP 1 mois", "QSP 3 mois", "1 boîte", "2 boîtes"]), "")])
        lines.append([])
        med_truth.append({"name": truth, "strength": strength})
    if renew:
        lines.append(
            [
                (
                    0.1,
                    rng.choice(
                        [f"À renouveler {renew} fois", f"A renouveler {renew} fois", f"Renouvelable {renew} fois"]
                    ),
                    "",
                )
            ]
        )
    lines += [[], [(0.6, "Signature", "i")]]
    truth = {
        "type": "ordonnance",
        "fields": {
            "prescription_date": d.isoformat(),
            "rpps": rpps,
            "prescriber_name": f"{first} {last}",
            "medications": med_truth,
            "renewals": renew,
        },
    }
    return [lines], truth


def carte_tiers_payant(rng: random.Random) -> tuple[list, dict]:
    insurer = rng.choice(INSURERS)
    amc = "".join(rng.choice("0123456789") for _ in range(rng.choice([8, 9, 10])))
    adherent = "".join(rng.choice("0123456789") for _ in range(rng.randint(6, 12)))
    year = rng.choice([2024, 2025, 2026])
    start = _dt.date(year, 1, 1) if rng.random() < 0.7 else _dt.date(year, rng.randint(2, 9), 1)
    end = _dt.date(year, 12, 31) if start.month == 1 else _dt.date(year + 1, start.month - 1, 28)
    holder_first, holder_last = person(rng)
    nir, nir_printed = make_nir(rng)
    codes = rng.sample(COVERAGE_CODES, rng.randint(5, 12))
    coverage = {c: rng.choice(COVERAGE_VALUES) for c in codes}
    lines: list = [[(0.06, insurer.upper() if rng.random() < 0.5 else insurer, "b")]]
    title = rng.choice(["CARTE DE TIERS PAYANT", "Attestation de tiers payant", "CARTE MUTUELLE", "Tiers payant"])
    lines += [[(0.06, title, "b")], []]
    amc_label = rng.choice(["N° AMC", "AMC :", "Numéro AMC", "N°AMC", "Organisme complémentaire (AMC)"])
    adh_label = rng.choice(["N° adhérent", "Adhérent n°", "N° d'adhérent :", "Numéro adhérent"])
    validity = rng.choice(
        [
            f"Valable du {fmt_date(rng, start, False)} au {fmt_date(rng, end, False)}",
            f"Période de validité : du {fmt_date(rng, start, False)} au {fmt_date(rng, end, False)}",
            f"Validité {fmt_date(rng, start, False)} - {fmt_date(rng, end, False)}",
        ]
    )
    ident = [
        [(0.06, f"{amc_label} {spaced(rng, amc, 0.2)}", "")],
        [(0.06, f"{adh_label} {adherent}", "")],
        [(0.06, validity, "")],
    ]
    rng.shuffle(ident)
    lines += ident + [[]]
    lines.append([(0.06, "Bénéficiaires", "b")])
    beneficiaries = [(holder_first, holder_last, nir_printed)]
    for _ in range(rng.randint(0, 2)):
        f2, _l2 = person(rng)
        beneficiaries.append((f2, holder_last, ""))
    for f, l, n in beneficiaries:
        birth = _dt.date(rng.randint(1950, 2020), rng.randint(1, 12), rng.randint(1, 28))
        lines.append(
            [(0.06, f"{l.upper()} {f}", ""), (0.45, birth.strftime("%d/%m/%Y"), "")] + ([(0.65, n, "")] if n else [])
        )
    lines.append([])
    per_row = rng.choice([3, 4, 6])
    items = list(coverage.items())
    for i in range(0, len(items), per_row):
        lines.append([(0.06 + j * (0.9 / per_row), f"{c} {v}", "") for j, (c, v) in enumerate(items[i : i + per_row])])
    if rng.random() < 0.5:
        lines += [
            [],
            [(0.06, "Cette carte est strictement personnelle. Présentez-la à chaque professionnel de santé.", "s")],
        ]
    truth = {
        "type": "carte_tiers_payant",
        "nir": nir,
        "fields": {
            "insurer": insurer,
            "amc_number": amc,
            "adherent_number": adherent,
            "valid_from": start.isoformat(),
            "valid_to": end.isoformat(),
            "coverage": coverage,
            "beneficiaries": [f"{f} {l}" for f, l, _ in beneficiaries],
        },
    }
    return [lines], truth


def feuille_de_soins(rng: random.Random) -> tuple[list, dict]:
    first, last = person(rng)
    pfirst, plast = person(rng)
    rpps = make_rpps(rng)
    nir, nir_printed = make_nir(rng)
    d = rand_date(rng)
    acts = rng.sample(ACTS, rng.randint(1, 3))
    total = sum(float(a.replace(",", ".")) for _, a in acts)
    euro = rng.choice([" €", "€", " EUR", ""])
    lines: list = [
        [(0.06, "FEUILLE DE SOINS", "b"), (0.62, "cerfa N° 12541*02", "s")],
        [(0.06, rng.choice(["ACTES MÉDICAUX", "Actes médicaux", "SOINS DISPENSÉS PAR LE MÉDECIN"]), "")],
        [],
    ]
    patient = [
        [(0.06, "Personne recevant les soins et assuré(e)", "b")],
        [(0.06, f"Nom et prénom : {plast.upper()} {pfirst}", "")],
        [
            (
                0.06,
                rng.choice(["Numéro d'immatriculation", "N° de sécurité sociale", "N° immatriculation"])
                + f" : {nir_printed}",
                "",
            )
        ],
        [
            (
                0.06,
                f"Date de naissance : {_dt.date(rng.randint(1940, 2010), rng.randint(1, 12), rng.randint(1, 28)).strftime('%d/%m/%Y')}",
                "",
            )
        ],
        [],
    ]
    doctor = [
        [(0.06, "Identification du médecin", "b")],
        [
            (
                0.06,
                rng.choice(
                    [f"Dr {first} {last.upper()}", f"Nom et prénom : {last.upper()} {first}", f"Docteur {first} {last}"]
                ),
                "",
            )
        ],
        [(0.06, f"{rng.choice(['N° RPPS', 'RPPS', 'Identifiant RPPS'])} : {spaced(rng, rpps, 0.2)}", "")],
    ]
    if rng.random() < 0.6:
        doctor.append([(0.06, f"N° AM (identifiant) : {am_number(rng)}", "")])
    doctor.append([])
    blocks = [patient, doctor]
    rng.shuffle(blocks)
    for b in blocks:
        lines += b
    lines.append([(0.06, "Date", "b"), (0.3, "Code de l'acte", "b"), (0.65, "Montant", "b")])
    for code, amount in acts:
        lines.append([(0.06, fmt_date(rng, d, False), ""), (0.3, code, ""), (0.65, amount + euro, "")])
    total_txt = f"{total:.2f}".replace(".", ",")
    lines += [
        [],
        [(0.3, rng.choice(["Montant total", "MONTANT TOTAL", "Total"]) + " :", "b"), (0.65, total_txt + euro, "b")],
        [],
    ]
    lines.append(
        [
            (
                0.06,
                rng.choice(
                    [
                        "Paiement : ☐ tiers payant ☒ payé",
                        "L'assuré n'a pas payé la part obligatoire",
                        "Acquitté le " + fmt_date(rng, d, False),
                    ]
                ),
                "",
            )
        ]
    )
    lines.append([(0.55, "Signature du médecin", "i")])
    truth = {
        "type": "feuille_de_soins",
        "nir": nir,
        "fields": {
            "care_date": d.isoformat(),
            "rpps": rpps,
            "practitioner_name": f"{first} {last}",
            "acts": [{"code": c, "amount": float(a.replace(",", "."))} for c, a in acts],
            "total_amount": round(total, 2),
        },
    }
    return [lines], truth


CR_SENTENCES = [
    "{p} a été vu(e) en consultation ce jour pour un suivi de {cond}.",
    "Les antécédents comprennent une {cond} traitée depuis plusieurs années.",
    "L'examen clinique retrouve un état général conservé, une tension artérielle à {ta}.",
    "Le bilan biologique du {date} ne montre pas d'anomalie significative.",
    "Le traitement par {med} est poursuivi sans modification.",
    "Une ordonnance a été remise au patient pour le renouvellement du traitement.",
    "Nous proposons un contrôle dans {n} mois avec un bilan sanguin préalable.",
    "L'échographie réalisée le {date} est rassurante.",
    "Le patient ne signale pas d'effet indésirable.",
    "Je vous remercie de m'avoir adressé votre patient et reste à votre disposition.",
]
CONDITIONS = [
    "hypertension artérielle",
    "diabète de type 2",
    "asthme",
    "hypothyroïdie",
    "lombalgie chronique",
    "fibrillation atriale",
    "migraine",
    "arthrose du genou",
]


def compte_rendu(rng: random.Random) -> tuple[list, dict]:
    first, last = person(rng)
    pfirst, plast = person(rng)
    d = rand_date(rng)
    hosp = (
        rng.choice(["Centre Hospitalier de ", "CHU de ", "Clinique Saint-Joseph, ", "Hôpital privé de "])
        + rng.choice(CITIES)[0]
    )
    kind = rng.choice(
        [
            "COMPTE RENDU DE CONSULTATION",
            "Compte rendu d'hospitalisation",
            "COMPTE-RENDU OPÉRATOIRE",
            "Compte rendu d'échographie",
            "Lettre de liaison",
        ]
    )
    lines: list = [
        [(0.06, hosp, "b")],
        [(0.06, f"Service de {rng.choice(SPECIALTIES).lower()}", "")],
        [],
        [(0.2, kind, "b")],
        [],
        [(0.06, f"Patient(e) : {pfirst} {plast.upper()}", ""), (0.6, f"le {fmt_date(rng, d)}", "")],
        [(0.06, f"Médecin : Dr {first} {last}", "")],
        [],
    ]
    pages = []
    n_par = rng.randint(2, 5)
    for _ in range(n_par):
        text = " ".join(
            rng.choice(CR_SENTENCES).format(
                p=f"M. {plast}",
                cond=rng.choice(CONDITIONS),
                ta=f"{rng.randint(11, 16)}/{rng.randint(6, 9)}",
                date=fmt_date(rng, rand_date(rng)),
                med=rng.choice(MEDICATIONS)[0] + " " + rng.choice(MEDICATIONS)[2],
                n=rng.randint(2, 12),
            )
            for _ in range(rng.randint(2, 4))
        )
        words, line = text.split(), ""
        for w in words:
            if len(line) + len(w) > 70:
                lines.append([(0.06, line, "")])
                line = ""
            line = (line + " " + w).strip()
        lines += [[(0.06, line, "")], []]
        if len(lines) > 34:
            pages.append(lines)
            lines = []
    lines += [[(0.55, f"Dr {first} {last.upper()}", "")]]
    if rng.random() < 0.4:
        lines.append([(0.55, f"RPPS {make_rpps(rng)}", "s")])
    pages.append(lines)
    return pages, {"type": "compte_rendu", "fields": {}}


def unknown(rng: random.Random) -> tuple[list, dict]:
    first, last = person(rng)
    street, city = address(rng)
    d = rand_date(rng)
    kind = rng.choice(["facture", "scolarite", "bail"])
    lines: list = [[(0.06, f"{first} {last}", "")], [(0.06, street, "")], [(0.06, city, "")], []]
    if kind == "facture":
        lines += [
            [(0.3, "FACTURE N° " + str(rng.randint(1000, 99999)), "b")],
            [(0.06, f"Date : {fmt_date(rng, d)}", "")],
            [],
        ]
        total = 0.0
        for item in rng.sample(["Perceuse sans fil", "Lot de vis", "Peinture blanche 10 L", "Rouleau", "Échelle"], 3):
            price = rng.randint(3, 150) + rng.choice([0, 0.5, 0.99])
            total += price
            lines.append([(0.06, item, ""), (0.7, f"{price:.2f} €".replace(".", ","), "")])
        lines += [[], [(0.45, "Total TTC", "b"), (0.7, f"{total:.2f} €".replace(".", ","), "b")]]
    elif kind == "scolarite":
        lines += [
            [(0.2, "CERTIFICAT DE SCOLARITÉ", "b")],
            [],
            [(0.06, f"Je soussigné(e), directeur de l'école {rng.choice(LAST)}, certifie que", "")],
            [(0.06, f"l'élève {rng.choice(FIRST)} {last} est inscrit(e) en classe de CM{rng.randint(1, 2)}", "")],
            [(0.06, f"pour l'année scolaire {d.year}-{d.year + 1}.", "")],
            [],
            [(0.5, f"Fait à {city.split(' ', 1)[1]}, le {fmt_date(rng, d)}", "")],
        ]
    else:
        lines += [
            [(0.2, "AVIS D'ÉCHÉANCE", "b")],
            [],
            [
                (0.06, f"Loyer du mois de {MONTHS[d.month - 1]} {d.year}", ""),
                (0.7, f"{rng.randint(400, 1200)},00 €", ""),
            ],
            [(0.06, "Charges locatives", ""), (0.7, f"{rng.randint(30, 150)},00 €", "")],
            [],
            [(0.06, "Merci de régler avant le 5 du mois.", "")],
        ]
    return [lines], {"type": "unknown", "fields": {}}


BUILDERS = {
    "ordonnance": ordonnance,
    "carte_tiers_payant": carte_tiers_payant,
    "feuille_de_soins": feuille_de_soins,
    "compte_rendu": compte_rendu,
    "unknown": unknown,
}
