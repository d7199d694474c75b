"""The ``privacy.pia`` evidence kind; importing this module registers it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.core.checks import EvidenceData, RecordedCheck
from bastion.core.errors import CheckError, NotFoundError
from bastion.core.evidence import EvidenceQuery
from bastion.core.types import Evidence, Severity

if TYPE_CHECKING:
    from bastion.core.workspace import Workspace

__all__ = ["PiaCheck", "PiaData", "get_assessment", "list_assessments"]


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
    #: Each question as answered (section title, question, answer, basis, evidence, note),
    #: so the report can be shown again from the evidence; empty in older evidence.
    rows: tuple[dict[str, object], ...] = ()


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


def list_assessments(ws: Workspace, *, limit: int = 50) -> list[tuple[Evidence, PiaData]]:
    """The newest ``privacy.pia`` evidence (newest first), each with its typed data;
    evidence whose data no longer reads as the model is left out."""
    out: list[tuple[Evidence, PiaData]] = []
    for ev in ws.evidence.list(EvidenceQuery(check_id=PiaCheck.id, limit=max(1, limit))):
        try:
            out.append((ev, PiaCheck.read(ev)))
        except CheckError:
            continue
    return out


def get_assessment(ws: Workspace, evidence_id: str) -> tuple[Evidence, PiaData]:
    """One recorded PIA (``NotFoundError`` when there is no such evidence or it is not a
    readable ``privacy.pia`` record)."""
    ev = ws.evidence.get(evidence_id[:100])
    try:
        return ev, PiaCheck.read(ev)
    except CheckError:
        raise NotFoundError(
            f"evidence {evidence_id[:100]} is not a privacy impact assessment"
        ) from None
