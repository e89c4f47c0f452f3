"""NIR detection: key check, Corsica, OCR noise, and no false positives on other numbers."""

import pytest

from worker.privacy import find_nirs, mask_nirs, nir_key_valid


def _key(body: str) -> str:
    n = int(body.replace("2A", "19").replace("2B", "18"))
    return f"{97 - n % 97:02d}"


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


def test_wrong_key_and_other_numbers_are_left_alone():
    body = "1850375116042"
    bad = "00" if _key(body) != "00" else "01"
    for text in (f"1 85 03 75 116 042 {bad}", "RPPS 10003456789", "Tél 01 23 45 67 89", "340093000001234"):
        assert mask_nirs(text) == (text, [])
    assert not nir_key_valid("1850375116042", bad)
    assert find_nirs("") == []
