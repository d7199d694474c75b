"""Evidence and check routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from bastion._plugins import load_checks
from bastion.access import Permission, Principal
from bastion.api._deps import Auth, get_ws, needs
from bastion.core.checks import all_checks, run_check
from bastion.core.evidence import EvidenceQuery
from bastion.core.types import Evidence, Subject, Verdict
from bastion.core.workspace import Workspace

router = APIRouter(tags=["evidence"])
WS = Annotated[Workspace, Depends(get_ws)]


def evidence_dict(e: Evidence) -> dict[str, Any]:
    """Evidence as the API returns it: :meth:`Evidence.to_dict`, the CLI's form too."""
    return e.to_dict()


@router.get("/evidence", summary="List evidence, newest first")
def list_evidence(
    ws: WS,
    _p: Auth,
    check_id: str | None = None,
    subject_ref: str | None = None,
    subject_kind: str | None = None,
    verdict: Verdict | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    q = EvidenceQuery(
        check_id=check_id,
        subject_ref=subject_ref,
        subject_kind=subject_kind,
        verdict=verdict,
        limit=limit,
        offset=offset,
    )
    return [evidence_dict(e) for e in ws.evidence.list(q)]


@router.get(
    "/evidence/{evidence_id}", summary="One piece of evidence and whether it matches the ledger"
)
def get_evidence(evidence_id: str, ws: WS, _p: Auth) -> dict[str, Any]:
    e = ws.evidence.get(evidence_id)
    return evidence_dict(e) | {"intact": ws.evidence.verify_digest(e)}


@router.get("/checks", summary="The registered checks")
def checks(_p: Auth) -> list[dict[str, Any]]:
    load_checks()
    return [c.metadata() for c in all_checks()]


class SubjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(max_length=64)
    ref: str = Field(max_length=500)
    digest: str | None = Field(default=None, max_length=100)


class RunCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: SubjectIn
    params: dict[str, Any] = Field(default_factory=dict, max_length=32)


@router.post(
    "/checks/{check_id}/run",
    summary="Run a check; its evidence is stored and ledgered",
    description=(
        "Only the parameters the check lists in `remote_params` (GET /checks) are accepted; "
        "paths must lie under the operator's check roots (BASTION_CHECK_ROOTS) and never in "
        "Bastion's home. A subject digest other than the digest of what the check examined "
        "is refused and nothing is recorded; without one, the examined digest is filled in."
    ),
)
def run(
    check_id: str,
    body: RunCheckIn,
    ws: WS,
    p: Annotated[Principal, Depends(needs(Permission.WRITE))],
) -> dict[str, Any]:
    load_checks()
    subject = Subject(body.subject.kind, body.subject.ref, body.subject.digest)
    ev = run_check(ws, check_id, subject, actor=p.actor, params=body.params, remote=True)
    return evidence_dict(ev)
