"""The BDPM parser on the real reference snapshot and on the variants found in the wild."""

from __future__ import annotations

import datetime as _dt
import logging
from decimal import Decimal
from pathlib import Path

import pytest

from tests.bdpm_data import reference_folder
from worker.bdpm import files
from worker.bdpm.parse import detect_encoding, parse_bytes, parse_folder
from worker.bdpm.records import Presentation, Specialite

CIS_LINE = (
    "61266250\tA 313 200 000 UI POUR CENT, pommade\tpommade\tcutanée\tAutorisation active\tProcédure nationale\t"
    "Commercialisée\t12/03/1998\t\t\t PHARMA DEVELOPPEMENT\tNon"
)
CIP_LINE = (
    "60002283\t4949729\tplaquette(s) de 30 comprimé(s)\tPrésentation active\tDéclaration de commercialisation\t"
    "16/03/2011\t3400949497294\toui\t65 %\t1,234,56\t1 235,58\t1,02\t"
)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory):
    return parse_folder(reference_folder(tmp_path_factory.mktemp("bdpm")))


def test_reference_snapshot_parses_every_file(snapshot) -> None:
    expected = {
        "CIS_bdpm.txt": 15291,
        "CIS_CIP_bdpm.txt": 20508,
        "CIS_COMPO_bdpm.txt": 30594,
        "CIS_GENER_bdpm.txt": 9871,
        "CIS_CPD_bdpm.txt": 22734,
        "CIS_HAS_SMR_bdpm.txt": 11934,
        "CIS_HAS_ASMR_bdpm.txt": 7539,
        "HAS_LiensPageCT_bdpm.txt": 8673,  # one code is listed twice: the second is a bad row
    }
    assert {n: p.report.rows for n, p in snapshot.files.items()} == expected
    links = snapshot.files["HAS_LiensPageCT_bdpm.txt"].report
    assert links.bad_rows == 1 and links.bad[0].reason.startswith("duplicate of line")
    assert all(p.report.bad_rows == 0 for n, p in snapshot.files.items() if n != "HAS_LiensPageCT_bdpm.txt")
    assert snapshot.files["CIS_bdpm.txt"].report.line_ends == "crlf"
    assert snapshot.files["CIS_CIP_bdpm.txt"].report.line_ends == "lf"
    assert snapshot.files["CIS_bdpm.txt"].report.encoding == "utf-8"
    assert snapshot.files["CIS_COMPO_bdpm.txt"].report.trailing_tabs == 30594


def test_records_are_typed_and_trimmed(snapshot) -> None:
    first = snapshot.records("CIS_bdpm.txt")[0]
    assert isinstance(first, Specialite)
    assert first.titulaires == ("PHARMA DEVELOPPEMENT",)  # the leading space is gone
    assert first.date_amm == _dt.date(1998, 3, 12)
    assert first.surveillance_renforcee is False
    with pytest.raises(AttributeError):
        first.cis = "x"  # type: ignore[misc]
    assert not hasattr(first, "__dict__")  # slots


@pytest.mark.parametrize(
    ("encoding", "newline"), [("latin-1", "\n"), ("utf-8", "\r\n"), ("cp1252", "\r\n"), ("utf-8", "\r")]
)
def test_re_encoded_copies_read_the_same(encoding: str, newline: str) -> None:
    text = "\n".join([CIS_LINE, CIS_LINE.replace("61266250", "62869109").replace("pommade", "crème œ’")]) + "\n"
    if encoding == "latin-1":
        text = text.replace(" œ’", "")
    data = text.replace("\n", newline).encode(encoding)
    parsed = parse_bytes(files.SPECIALITES, data)
    assert parsed.report.rows == 2 and parsed.report.bad_rows == 0
    assert parsed.records[0].voies_administration == ("cutanée",)
    expected = {"latin-1": "latin-1", "utf-8": "utf-8", "cp1252": "windows-1252"}[encoding]
    assert parsed.report.encoding == expected
    assert parsed.report.line_ends == {"\n": "lf", "\r\n": "crlf", "\r": "cr"}[newline]


def test_encoding_is_reported_with_its_reason() -> None:
    assert detect_encoding(b"abc").name == "ascii"
    assert detect_encoding("é".encode("latin-1")).note.startswith("no bytes 0x80-0x9F")
    assert detect_encoding(b"\xef\xbb\xbfabc").bom
    mixed = ("é\té\n" * 5).encode() + "é\té\n".encode("latin-1")
    assert detect_encoding(mixed).name == "mixed"
    parsed = parse_bytes(
        files.CONDITIONS,
        "".join(f"61266250\tliste {n} é\n" for n in range(5)).encode() + "61266250\tliste é\n".encode("cp1252"),
    )
    assert parsed.report.encoding == "mixed" and parsed.report.rows == 5
    assert [(b.line, b.reason) for b in parsed.report.bad] == [(6, "not valid UTF-8")]


def test_comma_decimals_thousands_rates_and_stray_spaces() -> None:
    parsed = parse_bytes(files.PRESENTATIONS, ("  " + CIP_LINE.replace("\t", " \t ") + "\n").encode())
    assert parsed.report.bad_rows == 0, parsed.report.bad
    record = parsed.records[0]
    assert isinstance(record, Presentation)
    assert record.prix_sans_honoraires == Decimal("1234.56")
    assert record.prix_avec_honoraires == Decimal("1235.58")
    assert record.honoraires == Decimal("1.02")
    assert record.taux_remboursement == ("65%",)
    assert record.cis == "60002283" and record.libelle == "plaquette(s) de 30 comprimé(s)"


def test_bad_rows_are_counted_with_line_numbers_never_text(caplog: pytest.LogCaptureFixture) -> None:
    secret = "NOM-PATIENT-CONFIDENTIEL"
    lines = [
        CIS_LINE,
        "",  # blank lines are skipped, not bad
        CIS_LINE.replace("61266250", f"6126{secret}"),
        "62869109\tonly two",
        CIS_LINE.replace("12/03/1998", "31/02/1998").replace("61266250", "61266251"),
        CIS_LINE.replace("Non", f"Non\t{secret}").replace("61266250", "61266252"),
        CIS_LINE,  # duplicate CIS
        CIS_LINE.replace("61266250", "61266253")[:-4],  # missing the last (optional) column: padded
    ]
    with caplog.at_level(logging.DEBUG):
        parsed = parse_bytes(files.SPECIALITES, ("\n".join(lines) + "\n").encode())
    report = parsed.report
    assert report.rows == 2 and report.bad_rows == 5 and report.padded == 1
    assert [b.line for b in report.bad] == [3, 4, 5, 6, 7]
    assert report.bad[0].reason == "cis: not an 8-digit CIS"
    assert report.bad[2].reason == "date_amm: not a JJ/MM/AAAA date"
    assert report.bad[4].reason == "duplicate of line 1"
    assert report.final_newline and not report.warnings
    assert secret not in repr(report.as_dict()) and secret not in caplog.text


def test_a_last_line_without_newline_is_a_bad_row_never_loaded() -> None:
    whole = CIS_LINE.replace("61266250", "61266251")
    cut = whole[:-4]  # cut within the last (optional) column: it would pass as a padded row
    parsed = parse_bytes(files.SPECIALITES, (CIS_LINE + "\r\n" + cut).encode())
    report = parsed.report
    assert report.rows == 1 and [r.cis for r in parsed.records] == ["61266250"]
    assert report.bad_rows == 1 and report.padded == 0
    assert [(b.line, b.reason) for b in report.bad] == [(2, "no newline after the last line: it may be cut short")]
    assert not report.final_newline and "cut short" in report.warnings[0]
    for ending in ("\n", "\r\n", "\r"):
        assert parse_bytes(files.SPECIALITES, (CIS_LINE + ending).encode()).report.bad_rows == 0


def test_a_line_repeated_whole_is_a_duplicate_loaded_once() -> None:
    once = b"61266250\tliste I\r\n61266250\tliste II\n62869109\tliste I\n"
    twice = parse_bytes(files.CONDITIONS, once * 2 + b"61266250\tliste I\n")  # served twice over, CRLF or not
    assert [(r.cis, r.condition) for r in twice.records] == [
        (r.cis, r.condition) for r in parse_bytes(files.CONDITIONS, once).records
    ]
    assert twice.report.rows == 3 and twice.report.bad_rows == 4
    assert [(b.line, b.reason) for b in twice.report.bad] == [
        (4, "duplicate of line 1"),
        (5, "duplicate of line 2"),
        (6, "duplicate of line 3"),
        (7, "duplicate of line 1"),
    ]
    same_cis = parse_bytes(files.COMPOSITIONS, b"60002283\tcp\t1\tA\t1 mg\tun cp\tSA\t1\n" * 2)
    assert same_cis.report.rows == 1 and same_cis.report.bad_rows == 1  # no identity key: whole lines compared


def test_folder_subset_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "CIS_CPD_bdpm.txt").write_bytes(b"61266250\tliste I\r\n")
    snap = parse_folder(tmp_path)
    assert list(snap.files) == ["CIS_CPD_bdpm.txt"] and snap.total_rows == 1
    assert snap.records("CIS_bdpm.txt") == ()


def test_double_encoded_text_is_warned_about() -> None:
    twice = "61266250\tliste I réservé\n".encode().decode("latin-1").encode()  # "rÃ©servÃ©"
    report = parse_bytes(files.CONDITIONS, twice).report
    assert report.encoding == "utf-8" and report.rows == 1
    assert report.warnings == ("2 characters look double-encoded (UTF-8 read as 8-bit, then saved as UTF-8)",)
