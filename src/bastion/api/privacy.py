"""REST routes for PII scans, masking and the token vault (``/api/v1/data/...``).

Thin: each route calls one public function of the privacy room. Remote callers upload
content (size-limited before it is held); they never name a server path. Scans and
masking need ``write``; detokenization and key rotation need ``admin`` (with MFA) and
every detokenization is appended to the ledger.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from bastion.access import Permission, Principal
from bastion.api._deps import HeavyWork, get_ws, needs, read_body, read_json
from bastion.core.errors import InputError
from bastion.core.workspace import Workspace

router = APIRouter(tags=["privacy"])
WS = Annotated[Workspace, Depends(get_ws)]

MAX_SCAN_BODY = 32 * 1024 * 1024
MAX_MASK_BODY = 48 * 1024 * 1024  # base64 of the 32 MiB content limit, plus the policy
MAX_TOKEN_BODY = 4 * 1024 * 1024
#: Scans and masking runs at once, in the thread pool; more are refused with 503.
WORK = HeavyWork("PII scans and masking runs", limit=2, retry_after=10)


@router.post(
    "/data/scan",
    summary="Scan uploaded content (CSV/TSV, Parquet or text, raw body) for PII",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def scan(
    request: Request,
    ws: WS,
    p: Annotated[Principal, Depends(needs(Permission.WRITE))],
    name: Annotated[str, Query(min_length=1, max_length=100, pattern=r"^[\w.\-]+$")] = "upload.txt",
    sample: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    record: Annotated[bool, Query(description="Record privacy.pii_scan evidence")] = False,
) -> dict[str, Any]:
    """The file name is a label and its suffix picks the format; the content is staged in
    a server-chosen temporary directory and removed afterwards."""
    from bastion.privacy.pii import record_scan, scan_content

    body = await read_body(request, MAX_SCAN_BODY)
    if record:
        ev = await WORK.run(record_scan, ws, content=body, name=name, sample=sample, actor=p.actor)
        return {"evidence": ev.to_dict()}
    result = await WORK.run(scan_content, body, name, sample=sample)
    return {"scan": result.to_dict()}


class MaskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: str = Field(max_length=256 * 1024)
    data_base64: str
    format: str = Field("csv", pattern=r"^(csv|parquet)$")
    allow_unmasked: list[str] = Field(default_factory=list, max_length=4096)
    name: str = Field("upload", pattern=r"^[\w.\-]{1,100}$")


@router.post("/data/mask", summary="Mask uploaded CSV/Parquet content by a policy (recorded)")
async def mask(
    request: Request, ws: WS, p: Annotated[Principal, Depends(needs(Permission.WRITE))]
) -> dict[str, Any]:
    """Body ``{"policy": YAML, "data_base64": ..., "format": "csv"|"parquet",
    "allow_unmasked": [...]}``; answers the report and the masked content (base64)."""
    from bastion.privacy.deid import mask_content

    body: MaskBody = await read_json(request, MaskBody, MAX_MASK_BODY)
    try:
        content = base64.b64decode(body.data_base64, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("data_base64: not base64") from None
    data, report = await WORK.run(
        mask_content,
        ws,
        content,
        body.policy,
        fmt=body.format,
        allow_unmasked=body.allow_unmasked,
        actor=p.actor,
        name=body.name,
    )
    return {"report": report.to_dict(), "data_base64": base64.b64encode(data).decode()}


class TokenizeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    namespace: str = Field(max_length=48)
    values: list[str] = Field(min_length=1, max_length=10_000)


class DetokenizeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    namespace: str = Field(max_length=48)
    tokens: list[str] = Field(min_length=1, max_length=10_000)
    reason: str = Field(min_length=3, max_length=500)


@router.post("/data/tokenize", summary="Vault tokens for values (deterministic per namespace)")
async def tokenize(
    request: Request, ws: WS, _p: Annotated[Principal, Depends(needs(Permission.WRITE))]
) -> dict[str, Any]:
    from bastion.privacy.deid import TokenVault

    body: TokenizeBody = await read_json(request, TokenizeBody, MAX_TOKEN_BODY)
    return {
        "namespace": body.namespace,
        "tokens": TokenVault(ws).tokenize(body.values, body.namespace),
    }


@router.post(
    "/data/detokenize",
    summary="Reverse vault tokens (admin with MFA; every call is recorded in the ledger)",
)
async def detokenize(
    request: Request, ws: WS, p: Annotated[Principal, Depends(needs(Permission.ADMIN))]
) -> dict[str, Any]:
    from bastion.privacy.deid import TokenVault

    body: DetokenizeBody = await read_json(request, DetokenizeBody, MAX_TOKEN_BODY)
    res = TokenVault(ws).detokenize(body.tokens, body.namespace, actor=p.actor, reason=body.reason)
    return {"values": res.values, "missing": list(res.missing), "ledger_seq": res.ledger_seq}


@router.post(
    "/data/vault/{namespace}/rotate",
    summary="Rotate a namespace's token key and re-tokenize the vault (admin with MFA)",
)
def rotate(
    namespace: str, ws: WS, p: Annotated[Principal, Depends(needs(Permission.ADMIN))]
) -> dict[str, Any]:
    from bastion.privacy.deid import TokenVault

    r = TokenVault(ws).rotate(namespace, actor=p.actor)
    return {
        "namespace": r.namespace,
        "from_version": r.from_version,
        "to_version": r.to_version,
        "retokenized": r.retokenized,
        "ledger_seq": r.ledger_seq,
    }
