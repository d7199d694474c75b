"""Inventory routes: systems, assets, manifest import."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from bastion.access import Permission, Principal
from bastion.api._deps import Auth, get_ws, needs, read_body
from bastion.core.workspace import Workspace
from bastion.inventory import get_asset, get_system, import_manifest, list_assets, list_systems
from bastion.manifest import parse_manifest

router = APIRouter(tags=["inventory"])
WS = Annotated[Workspace, Depends(get_ws)]


@router.get("/systems", summary="List systems")
def systems(ws: WS, _p: Auth) -> list[dict[str, Any]]:
    return [r.to_dict() | {"manifest": None} for r in list_systems(ws)]


@router.get("/systems/{system_id}", summary="A system with its current manifest and versions")
def system(system_id: str, ws: WS, _p: Auth) -> dict[str, Any]:
    return get_system(ws, system_id).to_dict()


@router.get("/assets", summary="List assets, with filters")
def assets(
    ws: WS,
    _p: Auth,
    kind: str | None = None,
    owner: str | None = None,
    classification: str | None = None,
    system: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[dict[str, Any]]:
    recs = list_assets(ws, system=system, kind=kind, owner=owner, classification=classification)
    return [a.to_dict() for a in recs[:limit]]


@router.get("/assets/{system_id}/{asset_id}", summary="An asset with its version history")
def asset(system_id: str, asset_id: str, ws: WS, _p: Auth) -> dict[str, Any]:
    return get_asset(ws, f"{system_id}/{asset_id}").to_dict(with_history=True)


@router.post(
    "/inventory/import",
    summary="Import a system manifest (YAML body)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        }
    },
)
async def import_(
    request: Request, ws: WS, p: Annotated[Principal, Depends(needs(Permission.WRITE))]
) -> dict[str, Any]:
    body = await read_body(request, ws.settings.max_manifest_bytes)
    manifest = parse_manifest(body, filename="request body")
    return import_manifest(ws, manifest, source="api", actor=p.actor).to_dict()
