"""Token administration (admin role, with MFA) and the caller's own identity."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from bastion.access import Permission, Principal, Role, create_token, list_tokens, revoke_token
from bastion.api._deps import Auth, get_ws, needs
from bastion.core.workspace import Workspace

router = APIRouter(tags=["access"])
WS = Annotated[Workspace, Depends(get_ws)]
Admin = Annotated[Principal, Depends(needs(Permission.ADMIN))]


@router.get("/whoami", summary="The authenticated caller")
def whoami(p: Auth) -> dict[str, Any]:
    return {"token_id": p.token_id, "name": p.name, "role": p.role.value, "mfa": p.mfa_verified}


@router.get("/tokens", summary="List API tokens (admin)")
def tokens(ws: WS, _p: Admin) -> list[dict[str, Any]]:
    return [t.to_dict() for t in list_tokens(ws)]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    role: Role
    ttl_hours: float | None = Field(default=None, gt=0, le=24 * 366)


@router.post(
    "/tokens", summary="Create an API token (admin); the secret is returned once", status_code=201
)
def new_token(body: TokenIn, ws: WS, p: Admin) -> dict[str, Any]:
    ttl = timedelta(hours=body.ttl_hours) if body.ttl_hours else None
    t = create_token(ws, name=body.name, role=body.role, ttl=ttl, actor=p.actor)
    return t.info.to_dict() | {
        "token": t.token,
        "totp_secret": t.totp_secret,
        "totp_uri": t.totp_uri,
    }


@router.delete("/tokens/{token_id}", summary="Revoke an API token (admin)")
def revoke(token_id: str, ws: WS, p: Admin) -> dict[str, Any]:
    return revoke_token(ws, token_id, actor=p.actor).to_dict()
