"""Parse BDPM files into records: detect each file's encoding and line ends, report them, validate every row.

Copies of the BDPM differ (UTF-8, Windows-1252 or Latin-1; LF or CRLF, even within one snapshot;
trailing tabs, stray spaces, comma decimals). Nothing here guesses silently: what was found is in the
file's :class:`FileReport`. A bad row is counted and reported by line number and reason, never with its
text, and never stops the file. A line identical to an earlier one is a bad row (``duplicate of line N``), so
files without a row identity (CIS_COMPO, CIS_CPD, the HAS opinions) never load a row twice.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from worker.bdpm.files import BY_NAME, FILES, BdpmFile
from worker.bdpm.records import Record, RowError, text

MAX_BAD_LISTED = 50  # bad rows listed per file (all are counted)
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")
_C1 = re.compile(rb"[\x80-\x9f]")
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")
_MOJIBAKE = re.compile(rb"\xc3[\x82\x83]\xc2[\x80-\xbf]")  # "Ã©" in UTF-8: UTF-8 read as 8-bit, then re-encoded


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int  # 1-based line number in the file
    reason: str  # which column or what about the row; never the row's text


@dataclass(frozen=True, slots=True)
class Encoding:
    """The encoding a file was read with and why: ``utf-8``, ``ascii``, ``windows-1252``, ``latin-1`` or
    ``mixed`` (mostly UTF-8 with 8-bit lines, which are bad rows)."""

    name: str
    codec: str
    bom: bool = False
    note: str = ""


@dataclass(frozen=True, slots=True)
class FileReport:
    """What parsing one file found: JSON-friendly, stored with each mirror version and shown by the status."""

    name: str
    size: int
    sha256: str
    encoding: str
    encoding_note: str
    line_ends: str  # lf, crlf, cr, mixed or none
    lines: int  # non-blank lines
    rows: int  # valid rows
    bad_rows: int
    bad: tuple[BadRow, ...]  # the first MAX_BAD_LISTED
    trailing_tabs: int  # rows with empty fields after the last column (dropped)
    padded: int  # rows missing trailing optional columns (taken as empty)
    final_newline: bool
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "encoding": self.encoding,
            "encoding_note": self.encoding_note,
            "line_ends": self.line_ends,
            "lines": self.lines,
            "rows": self.rows,
            "bad_rows": self.bad_rows,
            "bad": [{"line": b.line, "reason": b.reason} for b in self.bad],
            "trailing_tabs": self.trailing_tabs,
            "padded": self.padded,
            "final_newline": self.final_newline,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class ParsedFile:
    spec: BdpmFile
    report: FileReport
    records: tuple[Record, ...]


@dataclass(frozen=True)
class Snapshot:
    """The parsed files of one download (or folder), by file name; absent files are simply not in it."""

    files: Mapping[str, ParsedFile] = field(default_factory=dict)

    def records(self, name: str) -> tuple[Record, ...]:
        parsed = self.files.get(name)
        return parsed.records if parsed is not None else ()

    @property
    def total_rows(self) -> int:
        return sum(p.report.rows for p in self.files.values())

    def reports(self) -> dict[str, dict[str, object]]:
        return {name: p.report.as_dict() for name, p in self.files.items()}


def detect_encoding(data: bytes) -> Encoding:
    """Decide how to read ``data``, from its bytes alone, and say so (see :class:`Encoding`)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return Encoding("utf-8", "utf-8-sig", bom=True, note="byte order mark")
    if data.isascii():
        return Encoding("ascii", "ascii", note="7-bit only: any of UTF-8, Windows-1252, Latin-1 reads it alike")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return Encoding("utf-8", "utf-8")
    if _UTF8_MULTIBYTE.search(data) and _looks_mostly_utf8(data):
        return Encoding("mixed", "utf-8", note="mostly UTF-8 with lines in an 8-bit encoding (counted as bad rows)")
    c1 = set(_C1.findall(data))
    if not c1:
        return Encoding("latin-1", "latin-1", note="no bytes 0x80-0x9F: Windows-1252 would read it alike")
    if any(b[0] in _CP1252_UNDEFINED for b in c1):
        return Encoding("latin-1", "latin-1", note="C1 control bytes undefined in Windows-1252")
    return Encoding("windows-1252", "cp1252", note="bytes 0x80-0x9F used as Windows-1252 characters")


def _looks_mostly_utf8(data: bytes) -> bool:
    """More lines decode as UTF-8 (with non-ASCII in them) than fail: a mix, not an 8-bit file."""
    good = bad = 0
    for line in data.split(b"\n"):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            good += 1
        except UnicodeDecodeError:
            bad += 1
    return good > bad


def detect_line_ends(data: bytes) -> str:
    crlf = data.count(b"\r\n")
    lf = data.count(b"\n") - crlf
    cr = data.count(b"\r") - crlf
    kinds = [name for name, n in (("crlf", crlf), ("lf", lf), ("cr", cr)) if n]
    if not kinds:
        return "none"
    return kinds[0] if len(kinds) == 1 else "mixed"


def _lines(data: bytes, line_ends: str) -> list[bytes]:
    sep = b"\r" if line_ends == "cr" else b"\n"
    lines = data.split(sep)
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def parse_bytes(spec: BdpmFile | str, data: bytes) -> ParsedFile:
    """Parse one file's bytes into records, with its report. Never raises on content."""
    spec = BY_NAME[spec] if isinstance(spec, str) else spec
    enc = detect_encoding(data)
    line_ends = detect_line_ends(data)
    ncols = spec.field_count
    records: list[Record] = []
    bad: list[BadRow] = []
    seen: dict[object, int] = {}
    seen_lines: dict[bytes, int] = {}  # a line repeated whole (a file served twice over) is loaded once
    bad_count = trailing = padded = lines = 0
    warnings: list[str] = []
    mojibake = len(_MOJIBAKE.findall(data)) if enc.codec.startswith("utf-8") else 0
    final_newline = not data or data.endswith((b"\n", b"\r"))
    raw_lines = _lines(data, line_ends)
    cut_line = 0 if final_newline else len(raw_lines)  # every official file ends with a newline: this one may be cut
    for number, raw in enumerate(raw_lines, start=1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw.strip():
            continue
        lines += 1
        problem: str | None = None
        line = ""
        first_seen = seen_lines.setdefault(raw, number)
        if number == cut_line:
            problem = "no newline after the last line: it may be cut short"
        elif first_seen != number:
            problem = f"duplicate of line {first_seen}"
        else:
            try:
                line = raw.decode(enc.codec)
            except UnicodeDecodeError:
                problem = "not valid UTF-8"
        fields = line.split("\t")
        if problem is None and len(fields) > ncols:
            if any(f.strip() for f in fields[ncols:]):
                problem = f"{len(fields)} fields, expected {ncols}"
            else:
                trailing += 1
                fields = fields[:ncols]
        if problem is None and len(fields) < ncols:
            if len(fields) < spec.min_fields:
                problem = f"{len(fields)} fields, expected {ncols}"
            else:
                padded += 1
                fields.extend([""] * (ncols - len(fields)))
        if problem is None:
            try:
                if "  " in line or "\xa0" in line:
                    record = spec.build([text(f) for f in fields])
                else:
                    record = spec.build([f.strip() for f in fields])
            except RowError as exc:
                problem = str(exc)
            else:
                if spec.unique is not None:
                    identity = spec.unique(record)
                    first = seen.setdefault(identity, number)
                    if first != number:
                        problem = f"duplicate of line {first}"
                if problem is None:
                    records.append(record)
        if problem is not None:
            bad_count += 1
            if len(bad) < MAX_BAD_LISTED:
                bad.append(BadRow(number, problem))
    if mojibake:
        warnings.append(f"{mojibake} characters look double-encoded (UTF-8 read as 8-bit, then saved as UTF-8)")
    if not final_newline:
        warnings.append("no newline at the end of the file: it may be cut short (its last line is not loaded)")
    report = FileReport(
        name=spec.name,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        encoding=enc.name,
        encoding_note=enc.note,
        line_ends=line_ends,
        lines=lines,
        rows=len(records),
        bad_rows=bad_count,
        bad=tuple(bad),
        trailing_tabs=trailing,
        padded=padded,
        final_newline=final_newline,
        warnings=tuple(warnings),
    )
    return ParsedFile(spec, report, tuple(records))


def parse_file(path: Path, spec: BdpmFile | None = None) -> ParsedFile:
    """Parse a file on disk; its declaration is found from its name unless given."""
    return parse_bytes(spec or BY_NAME[path.name], path.read_bytes())


def parse_folder(folder: Path, names: Iterable[str] | None = None) -> Snapshot:
    """Parse the BDPM files present in ``folder`` (all eight, or ``names``): the reference snapshot, a test's
    subset, a bench's copy. Missing files are left out of the snapshot, not an error."""
    wanted = list(names) if names is not None else [f.name for f in FILES]
    parsed = {}
    for name in wanted:
        path = folder / name
        if path.is_file():
            parsed[name] = parse_file(path, BY_NAME[name])
    return Snapshot(parsed)
