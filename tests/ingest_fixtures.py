"""Real-looking ingestion inputs: the real Tesseract outputs of tests/corpus/analysis, made unique on demand.

``variant(path, n)`` returns the bytes of a corpus file changed in a way its format allows (a page line,
a word row, an XML comment), so ``n`` gives distinct SHA-256 values while the document stays valid.
Used by the ingestion tests and by bench/ingest_bench.py.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

CORPUS = Path(__file__).resolve().parent / "corpus" / "analysis"
SUFFIXES = (".json", ".hocr", ".tsv", ".alto.xml", ".txt")


def corpus_files() -> list[Path]:
    """The corpus documents (labels.json excluded), sorted: every format is present."""
    return sorted(p for p in CORPUS.iterdir() if p.name != "labels.json" and p.name.endswith(SUFFIXES))


def one_per_format() -> dict[str, Path]:
    files = corpus_files()
    return {suffix: next(p for p in files if p.name.endswith(suffix)) for suffix in SUFFIXES}


def variant(path: Path, n: int) -> bytes:
    """A valid, distinct version ``n`` of the corpus document ``path``."""
    raw = path.read_bytes()
    name = path.name
    if name.endswith(".json"):
        doc = json.loads(raw)
        doc["source_filename"] = f"scan-{n}.pdf"
        return json.dumps(doc, ensure_ascii=False).encode()
    if name.endswith((".hocr", ".xml")):
        return raw.rstrip() + f"\n<!-- copy {n} -->\n".encode()
    if name.endswith(".tsv"):
        return raw.rstrip(b"\n") + f"\n5\t1\t999\t1\t1\t1\t0\t0\t1\t1\t96\tref{n}\n".encode()
    return raw.rstrip() + f"\nréf. {n}\n".encode()


def as_html(xhtml: str) -> str:
    """The same hOCR serialised as HTML, as engines that do not write XHTML do: no XML declaration, an HTML 4
    doctype, ``<meta>`` left open, a ``<br>`` after each line, named entities for accented letters."""
    text = xhtml.split("?>", 1)[1] if xhtml.startswith("<?xml") else xhtml
    text = re.sub(r"<!DOCTYPE[^>]*>", '<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">', text, count=1)
    text = text.replace("/>", ">").replace(' xmlns="http://www.w3.org/1999/xhtml"', "")
    text = re.sub(r"</span>(\s*)</span>", r"</span>\1</span><br>", text)
    for char, name in (("é", "eacute"), ("è", "egrave"), ("à", "agrave"), ("É", "Eacute"), ("ç", "ccedil")):
        text = text.replace(char, f"&{name};")
    return text


def write_atomically(path: Path, data: bytes) -> None:
    """How a well-behaved producer lands a file: write ``name.tmp``, then rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.rename(path)


def sqlite_inbox_settings(tmp_path: Path, **env: str) -> Iterator:
    """Settings for a private home on SQLite (migrated, bound); bad files quarantined at once (no grace).

    For tests whose subject does not depend on the database backend (files, watcher)."""
    from models import migrator
    from models.database import open_database
    from worker.config import load_settings
    from worker.runtime import prepare_home

    settings = load_settings(
        {"MEDIFLUX_HOME": str(tmp_path / "home"), "MEDIFLUX_INGEST_GRACE_SECONDS": "0"}
        | {f"MEDIFLUX_{k.upper()}": v for k, v in env.items()}
    )
    prepare_home(settings)
    db = open_database(settings.database_url)
    migrator.upgrade(db)
    try:
        yield settings
    finally:
        db.close()


@contextmanager
def fetch_trap() -> Iterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 that notes every GET's path (and answers an entity declaration): point a document's
    DTD, stylesheet or image at its base URL, and any fetch a parser makes shows up in the list."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY x "fetched">')

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
