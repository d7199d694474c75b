"""Which evidence speaks for a model: the integrity checks about a model's content digest,
and the latest of each. The console's integrity panel and model list, and the registry's
join of versions with their evidence, read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bastion.core.checks import Check
from bastion.core.evidence import EvidenceQuery
from bastion.core.types import Evidence
from bastion.core.workspace import Workspace
from bastion.integrity.scanning import ScanCheck
from bastion.integrity.signing import ModelAttestationCheck, ModelSignatureCheck, ModelSignCheck
from bastion.integrity.supply import BomCheck, DependencyCheck

__all__ = ["MODEL_CHECKS", "ModelIntegrity", "latest_model_evidence", "model_integrity"]

#: The checks whose evidence is about a model (subject kind ``model``, by content digest).
MODEL_CHECKS: tuple[type[Check], ...] = (
    ModelSignCheck,
    ModelSignatureCheck,
    ScanCheck,
    BomCheck,
    ModelAttestationCheck,
)


@dataclass(frozen=True)
class ModelIntegrity:
    """The latest integrity evidence about one model digest (None where there is none).

    Dependency scans are about an environment rather than a model: without one about this
    digest, ``dependencies`` is the latest environment scan and ``dependencies_scope`` says
    so."""

    signature: Evidence | None
    sign: Evidence | None
    scan: Evidence | None
    bom: Evidence | None
    dependencies: Evidence | None
    dependencies_scope: Literal["model", "environment"]


def _latest(ws: Workspace, check: type[Check], digest: str | None = None) -> Evidence | None:
    found = ws.evidence.list(EvidenceQuery(check_id=check.id, subject_digest=digest, limit=1))
    return found[0] if found else None


def model_integrity(ws: Workspace, digest: str) -> ModelIntegrity:
    """The latest signature, signing, scan, AI-BOM and dependency evidence for ``digest``."""
    deps = _latest(ws, DependencyCheck, digest)
    scope: Literal["model", "environment"] = "model"
    if deps is None:
        deps = _latest(ws, DependencyCheck)
        scope = "environment"
    return ModelIntegrity(
        signature=_latest(ws, ModelSignatureCheck, digest),
        sign=_latest(ws, ModelSignCheck, digest),
        scan=_latest(ws, ScanCheck, digest),
        bom=_latest(ws, BomCheck, digest),
        dependencies=deps,
        dependencies_scope=scope,
    )


def latest_model_evidence(
    ws: Workspace, *, limit: int = 200
) -> dict[tuple[str, str | None], dict[str, Evidence]]:
    """(model ref, digest) -> check id -> the latest evidence of each :data:`MODEL_CHECKS`
    check about it (reading at most ``limit`` of each check's newest evidence)."""
    groups: dict[tuple[str, str | None], dict[str, Evidence]] = {}
    for check in MODEL_CHECKS:
        query = EvidenceQuery(check_id=check.id, subject_kind="model", limit=limit)
        for e in ws.evidence.list(query):
            checks = groups.setdefault((e.subject.ref, e.subject.digest), {})
            checks.setdefault(check.id, e)  # newest first: keep the latest per check
    return groups
