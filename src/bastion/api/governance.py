"""REST routes of the governance room. Thin: each route calls one public function."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from bastion.access import Permission, Principal
from bastion.api._deps import Auth, get_ws, needs, needs_any, read_body
from bastion.core.errors import InputError
from bastion.core.workspace import Workspace
from bastion.governance import (
    MAX_CONFIG_BYTES,
    ChangeKind,
    PersonSpec,
    add_person,
    approve_change,
    complete_access_review,
    create_change_request,
    escalation_for,
    get_change_request,
    get_escalation_matrix,
    get_person,
    get_proposal,
    grant_access,
    list_access_reviews,
    list_boards,
    list_change_requests,
    list_people,
    list_proposals,
    list_raci,
    parse_config,
    propose_change,
    reject_change,
    set_raci,
    start_access_review,
    transition_roles,
    vote,
)

router = APIRouter(prefix="/governance", tags=["governance"])
WS = Annotated[Workspace, Depends(get_ws)]
Writer = Annotated[Principal, Depends(needs(Permission.WRITE))]
Approver = Annotated[Principal, Depends(needs(Permission.APPROVE))]
# People, roles, grants, ownership and attestations are admin actions: admin or approver
# tokens with a current TOTP code (MFA). The actor is always the token's identity.
Privileged = Annotated[Principal, Depends(needs_any(Permission.ADMIN, Permission.APPROVE))]


class PersonBody(BaseModel):
    id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    roles: list[str] = Field(min_length=1, max_length=20)
    grants: list[str] = Field(default_factory=list, max_length=200)


class GrantBody(BaseModel):
    grant: str = Field(min_length=1, max_length=200)


class TransitionBody(BaseModel):
    roles: list[str] = Field(min_length=1, max_length=20)


class ReviewBody(BaseModel):
    person: str = Field(min_length=1, max_length=100)


class AttestBody(BaseModel):
    keep: list[int] = Field(default_factory=list, max_length=1000)


class RaciBody(BaseModel):
    person: str = Field(min_length=1, max_length=100)


class CrBody(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    target: str = Field(min_length=1, max_length=300)
    board: str = Field("cab", max_length=60)
    target_digest: str | None = Field(None, max_length=100)
    kind: str = "model_update"
    description: str = Field("", max_length=10_000)
    conditions: list[str] = Field(default_factory=list, max_length=50)


class VoteBody(BaseModel):
    vote: str
    comment: str | None = Field(None, max_length=500)
    condition: str | None = Field(None, max_length=500)


@router.put(
    "/config",
    summary="Propose a governance file (YAML body; admin/approver, MFA); another person approves",
    status_code=202,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        }
    },
)
async def apply(request: Request, ws: WS, p: Privileged) -> dict[str, Any]:
    body = await read_body(request, MAX_CONFIG_BYTES)
    parse_config(body, "request body")  # refuse a bad file now, not at approval
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("request body: a governance file is UTF-8 text") from None
    return propose_change(
        ws,
        ChangeKind.GOVERNANCE_CONFIG,
        {"yaml": text},
        proposer=p,
        summary="governance file",
    ).to_dict()


class RejectBody(BaseModel):
    reason: str = Field("", max_length=500)


@router.get("/proposals", summary="Proposed privileged changes (two-person rule)")
def proposals(
    ws: WS, _p: Auth, status: str | None = None, kind: str | None = None
) -> list[dict[str, Any]]:
    return [x.to_dict() for x in list_proposals(ws, status=status, kind=kind)]


@router.get("/proposals/{proposal_id}", summary="One proposed change, with its body")
def proposal(proposal_id: str, ws: WS, _p: Auth) -> dict[str, Any]:
    return get_proposal(ws, proposal_id).to_dict()


@router.post(
    "/proposals/{proposal_id}/approve",
    summary="Approve and apply a proposed change (a second admin/approver, MFA)",
)
def proposal_approve(proposal_id: str, ws: WS, p: Privileged) -> dict[str, Any]:
    return approve_change(ws, proposal_id, approver=p).to_dict()


@router.post(
    "/proposals/{proposal_id}/reject",
    summary="Reject (or, as its proposer, withdraw) a proposed change (admin/approver, MFA)",
)
def proposal_reject(proposal_id: str, body: RejectBody, ws: WS, p: Privileged) -> dict[str, Any]:
    return reject_change(ws, proposal_id, actor=p, reason=body.reason).to_dict()


@router.get("/people", summary="People with roles and grants")
def people(ws: WS, _p: Auth) -> list[dict[str, Any]]:
    return [x.to_dict() for x in list_people(ws)]


@router.get("/people/{person_id}", summary="One person")
def person(person_id: str, ws: WS, _p: Auth) -> dict[str, Any]:
    return get_person(ws, person_id).to_dict()


@router.post("/people", summary="Add a person with roles and grants (admin/approver, MFA)")
def person_add(body: PersonBody, ws: WS, p: Privileged) -> dict[str, Any]:
    try:
        spec = PersonSpec(
            id=body.id, name=body.name, roles=tuple(body.roles), grants=tuple(body.grants)
        )
    except ValueError as exc:
        raise InputError(f"person {body.id}: {exc}") from None
    return add_person(ws, spec, actor=p.name).to_dict()


@router.post("/people/{person_id}/grants", summary="Give a person a grant (admin/approver, MFA)")
def person_grant(person_id: str, body: GrantBody, ws: WS, p: Privileged) -> dict[str, Any]:
    return grant_access(ws, person_id, body.grant, actor=p.name).to_dict()


@router.post(
    "/people/{person_id}/transition",
    summary="Change a person's roles; opens an access review (admin/approver, MFA)",
)
def person_transition(
    person_id: str, body: TransitionBody, ws: WS, p: Privileged
) -> dict[str, Any]:
    return transition_roles(ws, person_id, body.roles, actor=p.name).to_dict()


@router.get("/access-reviews", summary="Access reviews")
def reviews(ws: WS, _p: Auth, status: str | None = None) -> list[dict[str, Any]]:
    return [r.to_dict() for r in list_access_reviews(ws, status=status)]


@router.post("/access-reviews", summary="Open a periodic access review of one person")
def review_start(body: ReviewBody, ws: WS, p: Writer) -> dict[str, Any]:
    return start_access_review(ws, body.person, actor=p.name).to_dict()


@router.post(
    "/access-reviews/{review_id}/attest",
    summary="Attest a review as the token's person: revoke flagged grants (admin/approver, MFA)",
)
def review_attest(review_id: str, body: AttestBody, ws: WS, p: Privileged) -> dict[str, Any]:
    return complete_access_review(
        ws, review_id, attested_by=p.name, keep=body.keep, actor=p.name
    ).to_dict()


@router.get("/raci", summary="Ownership per system and asset")
def raci(ws: WS, _p: Auth) -> list[dict[str, str]]:
    return list_raci(ws)


@router.put("/raci/{scope}/{ref}/{duty}", summary="Assign a duty to a person (admin/approver, MFA)")
def raci_set(
    scope: str, ref: str, duty: str, body: RaciBody, ws: WS, p: Privileged
) -> dict[str, str]:
    return set_raci(ws, scope, ref, duty, body.person, actor=p.name)


@router.get("/boards", summary="Boards")
def boards(ws: WS, _p: Auth) -> list[dict[str, Any]]:
    return [b.to_dict() for b in list_boards(ws)]


@router.get("/change-requests", summary="Change requests")
def crs(ws: WS, _p: Auth, status: str | None = None) -> list[dict[str, Any]]:
    return [c.to_dict() for c in list_change_requests(ws, status=status)]


@router.post("/change-requests", summary="Open a change request")
def cr_open(body: CrBody, ws: WS, p: Writer) -> dict[str, Any]:
    return create_change_request(
        ws,
        title=body.title,
        target=body.target,
        board_id=body.board,
        requested_by=p.name,
        kind=body.kind,
        target_digest=body.target_digest,
        description=body.description,
        conditions=body.conditions,
    ).to_dict()


@router.get("/change-requests/{cr_id}", summary="One change request")
def cr(cr_id: str, ws: WS, _p: Auth) -> dict[str, Any]:
    return get_change_request(ws, cr_id).to_dict()


@router.post("/change-requests/{cr_id}/votes", summary="Vote (board member, MFA)")
def cr_vote(cr_id: str, body: VoteBody, ws: WS, p: Approver) -> dict[str, Any]:
    return vote(ws, cr_id, p, body.vote, comment=body.comment, condition=body.condition).to_dict()


@router.get("/escalation/matrix", summary="The current escalation matrix")
def escalation_matrix(ws: WS, _p: Auth) -> dict[str, Any]:
    version, matrix = get_escalation_matrix(ws)
    return {"version": version, **matrix.model_dump(mode="json")}


@router.get("/escalation", summary="Who is notified, within what time")
def escalation(severity: str, domain: str, ws: WS, _p: Auth) -> dict[str, Any]:
    return escalation_for(ws, severity, domain).to_dict()
