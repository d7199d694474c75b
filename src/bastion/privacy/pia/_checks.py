"""The ``privacy.pia`` evidence kind; importing this module registers it."""

from __future__ import annotations

from bastion.core.checks import EvidenceData, RecordedCheck
from bastion.core.types import Severity

__all__ = ["PiaCheck", "PiaData"]


class PiaData(EvidenceData):
    system: str
    template: str
    template_digest: str
    manifest_digest: str
    answers_digest: str | None
    attested_by: str | None
    attested_role: str | None
    level: str  # low | medium | high
    score: int  # the largest likelihood x impact of an identified risk (0-25)
    total: int
    risks: tuple[dict[str, object], ...]
    open_actions: tuple[str, ...]
    answered: int
    prefilled: int
    questions: int


class PiaCheck(RecordedCheck[PiaData]):
    id = "privacy.pia"
    title = "Privacy impact assessment, scored and attested"
    description = (
        "A PIA (GDPR Art. 35 DPIA structure) prefilled from the manifest and the privacy "
        "evidence (PII scans, masking, minimization, DP, validation, retention, erasure), "
        "completed and attested by a named person; identified risks scored likelihood x "
        "impact with treatments and open actions. Fails at high risk or without attestation."
    )
    subject_kinds = ("system",)
    severity = Severity.HIGH
    references = ("GDPR Art. 35", "ISO/IEC 29134", "NIST Privacy Framework ID.RA-P")
    recorded_by = "bastion data pia report (bastion.privacy.pia.assess)"
