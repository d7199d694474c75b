"""REST routes of the registry room. Thin: each route calls one public function."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel, Field

from bastion.access import Permission, Principal, require
from bastion.api._deps import Auth, get_ws, needs, needs_any, read_body
from bastion.core.workspace import Workspace
from bastion.governance import ChangeKind, propose_change
from bastion.registry import (
    Stage,
    approve,
    current_policy,
    download_file,
    evaluate_gate,
    get_model,
    get_version,
    history,
    list_approvals,
    list_models,
    parse_policy,
    pending_promotions,
    promote,
    rollback,
    set_alias,
)

router = APIRouter(tags=["registry"])
WS = Annotated[Workspace, Depends(get_ws)]
Writer = Annotated[Principal, Depends(needs(Permission.WRITE))]
Approver = Annotated[Principal, Depends(needs(Permission.APPROVE))]
# Separation of duties: the gate policy and rollbacks are for admins or approvers, with MFA
# (both permissions need a current TOTP code); engineers who promote cannot change them.
Privileged = Annotated[Principal, Depends(needs_any(Permission.ADMIN, Permission.APPROVE))]
_GATED = (Stage.STAGING.value, Stage.PRODUCTION.value)


class PromoteBody(BaseModel):
    to: str = "production"
    reason: str | None = Field(None, max_length=2000)


class RollbackBody(BaseModel):
    to: str = Field(max_length=64)
    reason: str = Field(min_length=1, max_length=2000)


class AliasBody(BaseModel):
    alias: str = Field(min_length=1, max_length=40)
    version: str = Field(min_length=1, max_length=64)


class ApproveBody(BaseModel):
    kind: str = Field("security_signoff", max_length=40)
    stage: str = "production"
    comment: str | None = Field(None, max_length=500)


@router.get("/models", summary="List models and versions")
def models(ws: WS, _p: Auth) -> list[dict[str, Any]]:
    return [m.to_dict() for m in list_models(ws)]


@router.get("/models/{name}", summary="A model with its versions")
def model(name: str, ws: WS, _p: Auth) -> dict[str, Any]:
    return get_model(ws, name).to_dict()


@router.get("/models/{name}/history", summary="Stage transitions of a model")
def model_history(name: str, ws: WS, _p: Auth) -> list[dict[str, Any]]:
    return [t.to_dict() for t in history(ws, name)]


@router.get("/models/{name}/versions/{version}", summary="One version")
def version(name: str, version: str, ws: WS, _p: Auth) -> dict[str, Any]:
    return get_version(ws, name, version).to_dict()


@router.get(
    "/models/{name}/versions/{version}/files/{path:path}",
    summary="Download one file of a version (audited: X-Bastion-Purpose required)",
)
def version_file(
    name: str,
    version: str,
    path: str,
    ws: WS,
    p: Auth,
    x_bastion_purpose: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    f = download_file(ws, name, version, path, principal=p, purpose=x_bastion_purpose)
    return Response(
        f.data,
        media_type="application/octet-stream",
        headers={"X-Bastion-Digest": f.digest, "Cache-Control": "no-store"},
    )


@router.get("/models/{name}/versions/{version}/gate", summary="Evaluate the gate (no side effects)")
def gate(name: str, version: str, ws: WS, _p: Auth, stage: str = "production") -> dict[str, Any]:
    return evaluate_gate(ws, name, version, stage).to_dict()


@router.post("/models/{name}/versions/{version}/promote", summary="Promote through the gate")
def promote_(name: str, version: str, body: PromoteBody, ws: WS, p: Writer) -> dict[str, Any]:
    if body.to not in _GATED:
        # A move with no gate (demoting or archiving, e.g. taking production down) is an
        # admin action, with MFA.
        require(p, Permission.ADMIN)
    return promote(ws, name, version, body.to, actor=p.name, reason=body.reason).to_dict()


@router.post(
    "/models/{name}/rollback", summary="Roll back to a known-good version (admin/approver, MFA)"
)
def rollback_(name: str, body: RollbackBody, ws: WS, p: Privileged) -> dict[str, Any]:
    return rollback(ws, name, body.to, reason=body.reason, actor=p.name).to_dict()


@router.put(
    "/models/{name}/aliases",
    summary="Point an alias at a gated version (an ungated one: admin/approver, MFA)",
)
def alias_(
    name: str,
    body: AliasBody,
    ws: WS,
    p: Annotated[Principal, Depends(needs_any(Permission.WRITE, Permission.APPROVE))],
) -> dict[str, Any]:
    # A writer may move an alias among versions that passed a gate; an ungated version
    # needs an admin or approver with MFA (set_alias decides, for the CLI too).
    return set_alias(ws, name, body.alias, body.version, actor=p.name, principal=p).to_dict()


@router.post("/models/{name}/versions/{version}/approvals", summary="Approve (approver role, MFA)")
def approve_(name: str, version: str, body: ApproveBody, ws: WS, p: Approver) -> dict[str, Any]:
    return approve(
        ws, name, version, p, kind=body.kind, stage=body.stage, comment=body.comment
    ).to_dict()


@router.get("/approvals", summary="Approvals, newest first")
def approvals(ws: WS, _p: Auth, model: str | None = None) -> list[dict[str, Any]]:
    return [a.to_dict() for a in list_approvals(ws, model)]


@router.get("/promotions/pending", summary="The approvals queue: requested promotions")
def pending(ws: WS, _p: Auth) -> list[dict[str, Any]]:
    return [g.to_dict() for g in pending_promotions(ws)]


@router.get("/gate-policy", summary="The current gate policy")
def policy(ws: WS, _p: Auth) -> dict[str, Any]:
    v, pol = current_policy(ws)
    return {"version": v, "policy": pol.model_dump(mode="json")}


@router.put(
    "/gate-policy",
    summary="Propose a gate policy (YAML body; admin/approver, MFA); another person approves",
    status_code=202,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        }
    },
)
async def set_policy_(request: Request, ws: WS, p: Privileged) -> dict[str, Any]:
    body = await read_body(request, 256 * 1024)
    policy = parse_policy(body, "request body")  # refuse a bad policy now, not at approval
    # Two-person rule: this only proposes; a different admin/approver approves it at
    # POST /governance/proposals/{id}/approve, and only then is it the gate policy.
    return propose_change(
        ws,
        ChangeKind.GATE_POLICY,
        policy.model_dump(mode="json"),
        proposer=p,
        summary="gate policy",
    ).to_dict()
