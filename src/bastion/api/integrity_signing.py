"""REST routes of the integrity room's signing part. Thin: one room function per route.

Read-only: signing, verification and attestation evidence, and the in-house PKI's
certificates. Signing needs private keys and verification reads model files, so both
stay on the CLI and Python API, where the caller owns the files and keys.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from bastion.api._deps import Auth, get_ws
from bastion.api.evidence import evidence_dict
from bastion.core.workspace import Workspace
from bastion.integrity import list_certificates, signing_evidence

router = APIRouter(tags=["integrity"])
WS = Annotated[Workspace, Depends(get_ws)]


@router.get("/models/signatures", summary="Signing, verification and attestation evidence")
def model_signatures(
    ws: WS,
    _p: Auth,
    ref: Annotated[str | None, Query(max_length=500)] = None,
    check: Literal["integrity.sign", "integrity.signature", "integrity.provenance"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    return [evidence_dict(e) for e in signing_evidence(ws, ref=ref, check_id=check, limit=limit)]


@router.get("/pki/certificates", summary="The in-house PKI's CA and issued certificates")
def pki_certificates(ws: WS, _p: Auth) -> list[dict[str, Any]]:
    return [c.to_dict() for c in list_certificates(ws.settings.key_dir)]
