"""REST routes of the robustness room (``/api/v1/robustness/...``): the latest
robustness evidence per model, one evidence's charts, and campaign validation.

Thin: each route calls one public function of the room. Reading needs ``read``;
validating a campaign (parsed and checked, never run, no file read) needs ``write``.
Running evaluations goes through ``POST /api/v1/checks/robustness.evaluation/run``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from bastion.access import Permission, Principal
from bastion.api._deps import get_ws, needs, read_body
from bastion.core.workspace import Workspace

router = APIRouter(tags=["robustness"])
WS = Annotated[Workspace, Depends(get_ws)]

MAX_CAMPAIGN_BODY = 256 * 1024


@router.get(
    "/robustness/evidence", summary="The latest robustness evidence of each kind, per model"
)
def latest_evidence(
    ws: WS, _p: Annotated[Principal, Depends(needs(Permission.READ))]
) -> dict[str, Any]:
    from bastion.robustness import latest_by_model

    return {"models": latest_by_model(ws)}


@router.get(
    "/robustness/evidence/{evidence_id}/charts",
    summary="One robustness evidence's charts as SVG text (curve, certified radii, ROC)",
)
def evidence_charts(
    evidence_id: str, ws: WS, _p: Annotated[Principal, Depends(needs(Permission.READ))]
) -> dict[str, Any]:
    from bastion.robustness import evidence_charts as charts
    from bastion.robustness import robustness_evidence

    e = robustness_evidence(ws, evidence_id[:100])
    return {"evidence": e.id, "check_id": e.check_id, "charts": charts(ws, e)}


@router.post(
    "/robustness/campaigns/validate",
    summary="Validate a campaign document (YAML or JSON body); nothing runs",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        }
    },
)
async def validate_campaign(
    request: Request, _p: Annotated[Principal, Depends(needs(Permission.WRITE))]
) -> dict[str, Any]:
    """422 with the reason when the document is not a valid campaign; paths in it are
    not resolved (the preflight of ``bastion redteam run`` does that)."""
    from bastion.robustness import validate_campaign_text

    body = await read_body(request, MAX_CAMPAIGN_BODY)
    return validate_campaign_text(body)
