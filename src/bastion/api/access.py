"""REST routes of the access room's authorization side: JIT grants, the review, one-off
decisions. Thin: each route calls one function of ``bastion.access.policy``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from bastion.access import Permission, Principal
from bastion.api._deps import Auth, get_ws, needs, read_json
from bastion.core.workspace import Workspace

router = APIRouter(tags=["access"])
WS = Annotated[Workspace, Depends(get_ws)]
Writer = Annotated[Principal, Depends(needs(Permission.WRITE))]
# Approving, denying and revoking a grant: the approve permission with a current TOTP code
# in X-Bastion-OTP (MFA); the approver is the token's person.
Approver = Annotated[Principal, Depends(needs(Permission.APPROVE))]
MAX_BODY = 64 * 1024


class GrantBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    principal: str = Field(min_length=3, max_length=200)
    action: str = Field(max_length=40)
    resource: str = Field(max_length=240)
    reason: str = Field(min_length=10, max_length=1000)
    duration: str = Field("4h", max_length=10)
    roles: list[str] = Field(default_factory=list, max_length=50)


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=1000)


class PrincipalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=3, max_length=200)
    kind: Literal["user", "workload", "vendor"]
    roles: list[str] = Field(default_factory=list, max_length=100)
    attributes: dict[str, str | int | bool | list[str]] = Field(default_factory=dict)
    mfa: bool = False


class DecideBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    principal: PrincipalBody
    action: str = Field(max_length=40)
    #: KIND:ID; its attributes come from the inventory, never from the caller
    resource: str = Field(max_length=240)
    context: dict[str, str | int | bool | list[str]] = Field(default_factory=dict)


async def _note(request: Request) -> str | None:
    """The optional ``{"note": ...}`` of a decision on a grant; an empty body is no note."""
    length = request.headers.get("content-length")
    if length == "0" or (length is None and "transfer-encoding" not in request.headers):
        return None
    return (await read_json(request, NoteBody, MAX_BODY)).note


@router.post("/access/grants", status_code=201, summary="Request a just-in-time grant")
async def request_grant_route(request: Request, ws: WS, p: Writer) -> dict[str, Any]:
    from bastion.access.policy import request_grant

    b = await read_json(request, GrantBody, MAX_BODY)
    g = request_grant(
        ws, b.principal, b.action, b.resource, b.reason, b.duration, roles=b.roles, actor=p.actor
    )
    return g.to_dict()


@router.get("/access/grants", summary="Grants, newest first")
def list_grants_route(
    ws: WS,
    _: Auth,
    state: Annotated[str | None, Query(max_length=20)] = None,
    principal: Annotated[str | None, Query(max_length=200)] = None,
) -> list[dict[str, Any]]:
    from bastion.access.policy import list_grants

    return [g.to_dict() for g in list_grants(ws, state=state, principal=principal)]


@router.get("/access/grants/{grant_id}", summary="One grant")
def get_grant_route(grant_id: str, ws: WS, _: Auth) -> dict[str, Any]:
    from bastion.access.policy import get_grant

    return get_grant(ws, grant_id).to_dict()


@router.post("/access/grants/{grant_id}/approve", summary="Approve a grant (approver, MFA)")
async def approve_route(grant_id: str, request: Request, ws: WS, p: Approver) -> dict[str, Any]:
    from bastion.access.policy import approve_grant

    return approve_grant(ws, grant_id, p, note=await _note(request)).to_dict()


@router.post("/access/grants/{grant_id}/deny", summary="Deny a pending grant (approver, MFA)")
async def deny_route(grant_id: str, request: Request, ws: WS, p: Approver) -> dict[str, Any]:
    from bastion.access.policy import deny_grant

    return deny_grant(ws, grant_id, p, note=await _note(request)).to_dict()


@router.post("/access/grants/{grant_id}/revoke", summary="Revoke a grant now (approver, MFA)")
async def revoke_route(grant_id: str, request: Request, ws: WS, p: Approver) -> dict[str, Any]:
    from bastion.access.policy import revoke_grant

    return revoke_grant(ws, grant_id, p, note=await _note(request)).to_dict()


@router.get("/access/review", summary="Least privilege: unused grants, grants beyond baseline")
def review_route(
    ws: WS, _: Auth, days: Annotated[int, Query(ge=1, le=3650)] = 30
) -> dict[str, Any]:
    from bastion.access.policy import access_review

    return access_review(ws, days=days).to_dict()


@router.post("/policy/decide", summary="Decide one request against the active policies")
async def decide_route(request: Request, ws: WS, _: Writer) -> dict[str, Any]:
    from bastion.access.policy import decide_request

    b = await read_json(request, DecideBody, MAX_BODY)
    p = b.principal
    return decide_request(
        ws,
        p.id,
        p.kind,
        b.action,
        b.resource,
        roles=p.roles,
        attributes=p.attributes,
        mfa=p.mfa,
        context=b.context,
    )
