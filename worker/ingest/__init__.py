"""OCR-result ingestion: parsers (one module per format), safe file handling, storage, quarantine, scans
and the inbox watcher. See docs/ingestion.md."""

from worker.ingest.batch import ingest_batch, ingest_paths
from worker.ingest.report import IngestReport

__all__ = ["IngestReport", "ingest_batch", "ingest_paths"]
