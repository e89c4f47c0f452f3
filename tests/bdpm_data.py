"""The real BDPM reference snapshot (tests/data/bdpm/reference.tar.xz), extracted on demand.

``reference_folder(dest)`` extracts the eight files into ``dest`` once and returns it; ``subset`` writes
the first rows of each (CIS-consistent) for fast fault tests. Used by the mirror's and the matcher's tests
and by bench/bdpm_sync_bench.py.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

ARCHIVE = Path(__file__).resolve().parent / "data" / "bdpm" / "reference.tar.xz"
CIS_FILE = "CIS_bdpm.txt"


def reference_folder(dest: Path) -> Path:
    """The eight reference files in ``dest`` (extracted if not there yet)."""
    dest.mkdir(parents=True, exist_ok=True)
    if not (dest / CIS_FILE).is_file():
        with tarfile.open(ARCHIVE, "r:xz") as tar:
            tar.extractall(dest, filter="data")
    return dest


def subset(source: Path, dest: Path, specialities: int = 300) -> Path:
    """The first ``specialities`` CIS of ``source`` and every row of the other files that refers to them
    (the HAS links of their opinions included): a small, referentially consistent copy, bytes unchanged."""
    dest.mkdir(parents=True, exist_ok=True)
    cis_lines = (source / CIS_FILE).read_bytes().splitlines(keepends=True)[:specialities]
    kept = {line.split(b"\t", 1)[0] for line in cis_lines}
    (dest / CIS_FILE).write_bytes(b"".join(cis_lines))
    column = {"CIS_GENER_bdpm.txt": 2}
    dossiers: set[bytes] = set()
    for path in sorted(source.glob("CIS_*_bdpm.txt")):
        at = column.get(path.name, 0)
        rows = [line for line in path.read_bytes().splitlines(keepends=True) if line.split(b"\t")[at] in kept]
        if "HAS" in path.name:
            dossiers.update(line.split(b"\t")[1] for line in rows)
        (dest / path.name).write_bytes(b"".join(rows))
    links = (source / "HAS_LiensPageCT_bdpm.txt").read_bytes().splitlines(keepends=True)
    (dest / "HAS_LiensPageCT_bdpm.txt").write_bytes(b"".join(x for x in links if x.split(b"\t")[0] in dossiers))
    return dest


def subset_files(source: Path, dest: Path, specialities: int = 300) -> dict[str, bytes]:
    """:func:`subset`'s files as ``{name: bytes}``: what a :class:`tests.bdpm_server.BdpmSite` serves."""
    return {p.name: p.read_bytes() for p in subset(source, dest, specialities).iterdir()}
