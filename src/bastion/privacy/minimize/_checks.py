"""The ``privacy.minimization`` evidence kind; importing this module registers it."""

from __future__ import annotations

from bastion.core.checks import EvidenceData, RecordedCheck
from bastion.core.types import Severity

__all__ = ["FeatureVerdictData", "MinimizationCheck", "MinimizationData"]


class FeatureVerdictData(EvidenceData):
    feature: str
    verdict: str  # needed | removable | inconclusive | unused
    pii_entity: str | None = None
    permutation: dict[str, float] | None = None
    drop_column: dict[str, float] | None = None
    recommendation: str


class MinimizationData(EvidenceData):
    model_digest: str
    data_digest: str
    model_format: str
    target: str
    metric: str
    baseline: float
    rows: int
    tolerance: float
    level: float
    methods: tuple[str, ...]
    features: tuple[FeatureVerdictData, ...]
    pii_columns: tuple[str, ...]
    removable_pii: tuple[str, ...]
    unused_pii: tuple[str, ...]
    needed_pii: tuple[str, ...]


class MinimizationCheck(RecordedCheck[MinimizationData]):
    id = "privacy.minimization"
    title = "Data minimization: the features a model needs and the PII it could do without"
    description = (
        "Permutation and drop-column importance of each feature (the performance delta with "
        "a paired bootstrap confidence interval), the dataset's PII columns (the room's "
        "column classifier) and a recommendation per column: keep what the model needs, "
        "drop PII it does not use or can do without. Warns while removable PII remains."
    )
    subject_kinds = ("model",)
    severity = Severity.MEDIUM
    references = ("GDPR Art. 5(1)(c)", "GDPR Art. 25", "ISO/IEC 27701 7.4.1")
    recorded_by = "bastion data minimize (bastion.privacy.minimize.minimize)"
