"""REST routes of the integrity room's scanning part. Thin: one room function per route."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from bastion.access import Permission, Principal
from bastion.api._deps import Auth, HeavyWork, get_ws, needs, read_body
from bastion.core.workspace import Workspace

router = APIRouter(tags=["integrity"])
WS = Annotated[Workspace, Depends(get_ws)]

MAX_SCAN_BODY = 256 * 1024 * 1024
#: Scans running at once, in the thread pool; more are refused with 503 + Retry-After.
SCANS = HeavyWork("model scans", limit=2, retry_after=10)


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
    attest: Annotated[
        bool, Query(description="Also sign the verdict with the workspace attestation key")
    ] = False,
) -> dict[str, Any]:
    from bastion.integrity import record_scan_upload

    body = await read_body(request, MAX_SCAN_BODY)
    return await SCANS.run(record_scan_upload, ws, body, name, attest=attest, actor=p.actor)


@router.get(
    "/models/attestation-key",
    summary="PEM public key that verifies the attestations this server signs",
)
def attestation_key(ws: WS, _p: Auth) -> dict[str, str]:
    from bastion.integrity import attestation_public_key

    return {"public_key": attestation_public_key(ws)}
