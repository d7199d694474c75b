"""The ``data.validation`` evidence kind; importing this module registers it."""

from __future__ import annotations

from bastion.core.checks import EvidenceData, RecordedCheck
from bastion.core.types import Severity

__all__ = ["DataValidationCheck", "DataValidationData"]


class DataValidationData(EvidenceData):
    data_digest: str
    constraints_digest: str
    reference_digest: str | None
    rows: int
    columns: int
    schema_ok: bool
    schema_failures: tuple[dict[str, object], ...]
    drifted: tuple[str, ...]
    distribution: tuple[dict[str, object], ...] = ()
    label_shift: float | None = None
    near_duplicate_rate: float | None = None
    passed: bool


class DataValidationCheck(RecordedCheck[DataValidationData]):
    id = "data.validation"
    title = "Training data meets its schema and distribution constraints"
    description = (
        "A constraint file (YAML) turned into a pandera schema (types, ranges, categories, "
        "patterns, uniqueness, nullability, no unknown columns) and distribution limits "
        "against a reference dataset (PSI and KS / chi-square from the monitor room's drift "
        "statistics, label balance, near-duplicate rows), to catch poisoning and drift "
        "before training. Evidence names columns, checks and row numbers, never values."
    )
    subject_kinds = ("dataset",)
    severity = Severity.HIGH
    references = ("NIST AI 100-2 (poisoning)", "ISO/IEC 5259-2", "MITRE ATLAS AML.T0020")
    recorded_by = "bastion data validate (bastion.privacy.validate.validate_file)"
