"""REST routes of the governance room. Thin: each route calls one public function."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from bastion.access import Permission, Principal
from bastion.api._deps import Auth, get_ws, needs, read_body
from bastion.core.workspace import Workspace
from bastion.governance import (
    MAX_CONFIG_BYTES,
    apply_config,
    create_change_request,
    escalation_for,
    get_change_request,
    list_access_reviews,
    list_boards,
    list_change_requests,
    list_people,
    list_raci,
    parse_config,
    vote,
)

router = APIRouter(prefix="/governance", tags=["governance"])
WS = Annotated[Workspace, Depends(get_ws)]
Writer = Annotated[Principal, Depends(needs(Permission.WRITE))]
Approver = Annotated[Principal, Depends(needs(Permission.APPROVE))]


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
    summary="Apply a governance file (YAML body)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        }
    },
)
async def apply(request: Request, ws: WS, p: Writer) -> dict[str, Any]:
    body = await read_body(request, MAX_CONFIG_BYTES)
    return apply_config(ws, parse_config(body, "request body"), actor=p.actor)


@router.get("/people", summary="People with roles and grants")
def people(ws: WS, _p: Auth) -> list[dict[str, Any]]:
    return [x.to_dict() for x in list_people(ws)]


@router.get("/access-reviews", summary="Access reviews")
def reviews(ws: WS, _p: Auth, status: str | None = None) -> list[dict[str, Any]]:
    return [r.to_dict() for r in list_access_reviews(ws, status=status)]


@router.get("/raci", summary="Ownership per system and asset")
def raci(ws: WS, _p: Auth) -> list[dict[str, str]]:
    return list_raci(ws)


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


@router.get("/escalation", summary="Who is notified, within what time")
def escalation(severity: str, domain: str, ws: WS, _p: Auth) -> dict[str, Any]:
    return escalation_for(ws, severity, domain).to_dict()
