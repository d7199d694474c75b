"""REST routes of the integrity room's supply part. Thin: one room function per route."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from bastion.api._deps import Auth, get_ws
from bastion.core.workspace import Workspace
from bastion.integrity import system_ai_bom

router = APIRouter(tags=["integrity"])
WS = Annotated[Workspace, Depends(get_ws)]


@router.get(
    "/bom/{system_id}",
    summary="CycloneDX 1.6 AI-BOM of a stored system (models, datasets, services)",
)
def system_bom(system_id: str, ws: WS, _p: Auth) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(system_ai_bom(ws, system_id))
    return doc
