"""Document analysis: type and key fields from noisy OCR text, with confidences and locations.

``analyze_text`` is pure (pages in, analysis out); ``store`` runs it over the
``documents`` table; ``medications`` matches prescribed products to BDPM.
"""

from worker.analysis.pipeline import EXTRACTOR_VERSION, analyze_text

__all__ = ["EXTRACTOR_VERSION", "analyze_text"]
