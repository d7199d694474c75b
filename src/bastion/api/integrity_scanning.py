"""REST routes of the integrity room's scanning part. Thin: one room function per route."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from bastion.access import Permission, Principal
from bastion.api._deps import get_ws, needs, read_body
from bastion.core.types import Subject
from bastion.core.workspace import Workspace

router = APIRouter(tags=["integrity"])
WS = Annotated[Workspace, Depends(get_ws)]

MAX_SCAN_BODY = 256 * 1024 * 1024


@router.post(
    "/models/scan",
    summary="Scan an uploaded model file (raw body); evidence is recorded",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def scan_upload(
    request: Request,
    ws: WS,
    p: Annotated[Principal, Depends(needs(Permission.WRITE))],
    name: Annotated[str, Query(min_length=1, max_length=200, pattern=r"^[\w.\-]+$")] = "upload",
) -> dict[str, Any]:
    from bastion.integrity import record_scan, scan_bytes

    body = await read_body(request, MAX_SCAN_BODY)
    report = scan_bytes(body, name)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    ev = record_scan(ws, report, subject=Subject("model", name, digest), actor=p.actor)
    return report.to_dict() | {"evidence": ev.id, "digest": digest}
