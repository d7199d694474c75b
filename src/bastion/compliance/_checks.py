"""The compliance room's evidence kind: attestations, recorded through the typed recorder."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from bastion.core.checks import EvidenceData, RecordedCheck
from bastion.core.types import Severity

__all__ = ["AttestationCheck", "AttestationData"]

MAX_STATEMENT = 4000


class AttestationData(EvidenceData):
    """``compliance.attestation`` evidence data: a person's dated statement that a control
    holds for a subject, until ``valid_until``. Its time is the evidence's own
    ``created_at`` (the ledger's), never a date the attester chose."""

    control: str = Field(min_length=3, max_length=100)
    statement: str = Field(min_length=1, max_length=MAX_STATEMENT)
    attested_by: str = Field(min_length=1, max_length=300)
    valid_until: datetime
    scope: str


class AttestationCheck(RecordedCheck[AttestationData]):
    """A dated attestation of a control, recorded by ``bastion control attest``."""

    id = "compliance.attestation"
    title = "Control attestation (dated, by a named person)"
    description = (
        "A person's dated statement that a control holds for a model version or a system, "
        "valid until a date. Meets controls whose coverage is attestation (or the "
        "remainder of a partially automated one) while fresh; never a fully automated one."
    )
    subject_kinds = ("model", "system")
    severity = Severity.INFO
    references = ("NIST AI RMF GOVERN 1.1", "ISO/IEC 42001 9.2")
    recorded_by = "bastion control attest (compliance.attest)"
