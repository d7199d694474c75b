"""The ``privacy.masking`` recorded transformation; importing registers it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from bastion.core.checks import EvidenceData, RecordedCheck
from bastion.core.types import Severity

__all__ = ["MaskedColumn", "MaskingCheck", "MaskingData"]


class MaskedColumn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")
    column: str
    operator: str
    changed: int


class MaskingData(EvidenceData):
    """A masking run: what went in, what came out, under which policy, what changed."""

    input_name: str
    input_digest: str
    output_name: str
    output_digest: str
    policy_digest: str
    format: str
    rows: int
    columns: tuple[MaskedColumn, ...]
    passed_through: tuple[str, ...] = ()
    allowed_unmasked: tuple[str, ...] = ()


class MaskingCheck(RecordedCheck[MaskingData]):
    """A masked copy was made (``bastion data mask``): input and output digests, policy
    digest, the operator of each masked column and how many values it changed."""

    id = "privacy.masking"
    title = "Masked non-production copy (recorded transformation)"
    description = (
        "Streaming de-identification of a CSV/Parquet file by a per-column policy; refused "
        "when an unmasked column is classified as PII and not explicitly allowed."
    )
    subject_kinds = ("dataset",)
    severity = Severity.HIGH
    references = ("GDPR Art. 25", "GDPR Art. 32", "NIST SP 800-188")
    recorded_by = "bastion data mask (bastion.privacy.deid.mask_file)"
