"""What one ingestion call did: counts per outcome, and the paths left in place for a retry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class IngestReport:
    """What one call did; ``retry`` lists paths left in place for a later attempt."""

    stored: list[int] = field(default_factory=list)
    duplicates: int = 0
    already_stored: int = 0
    quarantined: int = 0
    gone: int = 0
    skipped: int = 0
    retry: list[str] = field(default_factory=list)
    ocr: list[str] = field(default_factory=list)  # images and PDFs handed to the OCR stage
    reasons: dict[str, int] = field(default_factory=dict)

    def count(self, reason: str) -> None:
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def merge(self, other: IngestReport) -> None:
        self.stored += other.stored
        self.retry += other.retry
        self.ocr += other.ocr
        for name in ("duplicates", "already_stored", "quarantined", "gone", "skipped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, n in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + n

    def summary(self) -> dict[str, Any]:
        return {
            "stored": len(self.stored),
            "duplicates": self.duplicates,
            "already_stored": self.already_stored,
            "quarantined": self.quarantined,
            "gone": self.gone,
            "skipped": self.skipped,
            "retry": len(self.retry),
            "ocr": len(self.ocr),
            "reasons": dict(sorted(self.reasons.items())),
        }
