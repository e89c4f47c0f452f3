"""The NIR detector: every layout of issue 15 masked, the key checked, Unicode digits, and other numbers left alone."""

import pytest

from worker.privacy import find_nirs, mask_nirs, mask_text, nir_key_valid, plausible_body, scrub

BODY = "1850375123456"
KEY = "41"
MASKED = "1 85 03 ** *** *** **"


def _key(body: str) -> str:
    n = int(body.replace("2A", "19").replace("2B", "18"))
    return f"{97 - n % 97:02d}"


def _fullwidth(s: str) -> str:
    return "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in s)


assert _key(BODY) == KEY

# Each of these was left in clear by the detector before issue 15.
LAYOUTS = {
    "double spaces": "Assuré : 1  85  03  75  123  456  41 fin",
    "tabs": "NIR\t1\t85\t03\t75\t123\t456\t41",
    "nbsp": "N° SS : 1\u00a085\u00a003\u00a075\u00a0123\u00a0456\u00a041",
    "narrow nbsp": "N° SS : 1\u202f85\u202f03\u202f75\u202f123\u202f456\u202f41",
    "slash before the key": "N° 1 85 03 75 123 456 / 41",
    "key in parentheses": "N° 1 85 03 75 123 456 (41)",
    "clé before the key": "N° 1 85 03 75 123 456 clé 41",
    "key on the next line": "Assuré 1 85 03 75 123 456\n41\nMOREL",
    "hOCR split over two lines": "N° 1 85 03 75 123 456\n41",
    "without its key": "N° SS : 1 85 03 75 123 456",
    "without its key, unbroken": "N° SS : 1850375123456 —",
    "glued prefix": "NIR185037512345641",
    "fullwidth digits": "NIR " + _fullwidth(BODY + KEY),
    "fullwidth spaced": "NIR " + _fullwidth("1 85 03 75 123 456 41"),
    "arabic-indic digits": "NIR " + "".join(chr(0x0660 + int(c)) for c in BODY + KEY),
    "en dashes": "1\u201385\u201303\u201375\u2013123\u2013456\u201341",
    "file name": "DUPONT Jean 185037512345641.txt",
}


@pytest.mark.parametrize("text", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_each_layout_of_the_issue_is_masked(text):
    masked, found = mask_nirs(text)
    assert found == [MASKED]
    assert "123" not in masked and "456" not in masked and "４５６" not in masked
    assert mask_text(masked) == masked  # idempotent


@pytest.mark.parametrize("body", ["1850375116042", "290122A004012", "178062B123456", "2991299999999"])
def test_valid_nirs_are_masked_with_and_without_spaces(body):
    key = _key(body)
    spaced = f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:13]} {key}"
    for printed in (spaced, body + key):
        text, found = mask_nirs(f"Assuré : {printed} — fin")
        assert body[7:10] not in text and key not in text.split("—")[0][-6:]
        assert found == [f"{body[0]} {body[1:3]} {body[3:5]} ** *** *** **"]


def test_ocr_lookalikes_are_tolerated():
    body = "1850375116042"
    noisy = "l 85 O3 75 116 O42 " + _key(body)
    text, found = mask_nirs(noisy)
    assert found and "116" not in text


def test_overseas_and_abroad_bodies_without_key():
    for printed in ("2 91 07 971 23 045", "2 91 07 97 123 045", "1 70 02 99 350 123", "7 85 25 75 056 001"):
        assert mask_nirs(f"N° SS : {printed}")[1], printed


def test_a_key_that_does_not_check_is_not_a_key():
    """The 13 characters are judged on their structure alone; an unbroken 15-digit number is not a NIR."""
    bad = "00" if _key("1850375116042") != "00" else "01"
    assert not nir_key_valid("1850375116042", bad)
    assert mask_nirs(f"1 85 03 75 116 042 {bad}") == (
        f"{MASKED[:8]}** *** *** ** {bad}",
        [MASKED[:8] + "** *** *** **"],
    )
    assert mask_nirs(f"1850375116042{bad}") == (f"1850375116042{bad}", [])


NEAR_MISSES = [
    "RPPS 10003456789",
    "N° RPPS : 10 003 456 789",
    "RPPS 10003456789\n12 rue de la Paix",
    "Organisme complémentaire (AMC) 6450391759",
    "N° d'adhérent : 055901945567",
    "Tél 01 23 45 67 89",
    "Tél. 01.23.45.67.89 / 06 12 34 56 78",
    "+33 6 12 34 56 78",
    "+33 (0)1 42 68 53 00",
    "0612345678",
    "Total 1 234,56 € — 30,00 €",
    "Validité 01/01/2025 - 31-12-2025",
    "12.03.2026 15.04.2026",
    "3400930000000",
    "CIP 3400935955838",
    "EAN 3401560123458",
    "FR76 3000 6000 0112 3456 7890 189",
    "SIRET 123 456 789 00012",
    "340093000001234",
    "Assuré : 1 85 03 ** *** *** **",
    "12 rue des Lilas 69003 Lyon",
    "1 85 03 96 123 456",  # keyless: département 96 does not exist
    "1 85 45 75 123 456",  # keyless: month 45 is not a month
    "5 85 03 75 123 456",  # keyless: 5 is no sex digit
    "1 85 03 75 000 456",  # keyless: commune 000
]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_other_numbers_are_left_alone(text):
    assert mask_nirs(text) == (text, [])


def test_cip13_rule_is_structural():
    """A keyless unbroken 13-digit run starting with 3 and ending in a right EAN-13 check digit is a product code;
    the same digits with separators, or with a NIR key, are a NIR."""
    cip = "3400935955838"
    assert plausible_body(cip) and mask_nirs(cip)[1] == []
    assert mask_nirs("3 40 09 35 955 838")[1]
    assert mask_nirs(cip + _key(cip))[1]


def test_offsets_are_kept_with_unicode_digits_before():
    text = "Né le ١٢/٠٣/١٩٨٥ — N° 1\u00a085\u00a003\u00a075\u00a0123\u00a0456\u00a041 fin"
    masked, _ = mask_nirs(text)
    assert masked == "Né le ١٢/٠٣/١٩٨٥ — N° 1 85 03 ** *** *** ** fin"
    (m,) = find_nirs(text)
    assert text[m.start] == "1" and text[m.end - 2 : m.end] == "41"


def test_scrub_masks_keys_values_and_whole_numbers():
    value = {"185037512345641": {"n": 185037512345641, "t": ["x 1 85 03 75 123 456"], "ok": 12}, "k": True}
    assert scrub(value) == {MASKED: {"n": MASKED, "t": ["x " + MASKED], "ok": 12}, "k": True}
    assert find_nirs("") == []


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "text",
    [
        "1 85 03 75 123 456" + " " * 200_000 + "x",  # was quadratic: a run of separators split two ways
        "1 85 03 75 123 456 clé" + " " * 200_000 + "x",
        "l" * 200_000,  # OCR of a table border
        "1 85 03 75 123 456 clé " * 20_000,
    ],
    ids=["spaces after a body", "spaces after clé", "look-alikes only", "many keyless bodies"],
)
def test_long_runs_are_scanned_in_linear_time(text):
    masked, found = mask_nirs(text)
    assert len(found) == text.count("1 85 03 75 123 456")
