"""REST routes of the compliance room: the control catalog and a control's evaluation.
Thin: each route calls one public function of bastion.compliance. Read-only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from bastion.api._deps import Auth, get_ws
from bastion.core.workspace import Workspace

router = APIRouter(tags=["compliance"])
WS = Annotated[Workspace, Depends(get_ws)]


@router.get("/controls", summary="The controls of the catalog")
def controls(_p: Auth) -> list[dict[str, Any]]:
    from bastion.compliance import list_controls

    return [c.to_dict() for c in list_controls()]


@router.get(
    "/controls/{control_id}/evaluate",
    summary="Evaluate a control on a model version or a system, now",
    description=(
        "`subject` is `model:NAME@VERSION` or `system:ID`. Fails closed: without fresh "
        "evidence (or, for attestation coverage, a fresh dated attestation) the control "
        "is unmet, with the reason and the remedy. Nothing is recorded."
    ),
)
def evaluate(
    control_id: Annotated[str, Path(max_length=100)],
    ws: WS,
    _p: Auth,
    subject: Annotated[str, Query(min_length=3, max_length=500)],
) -> dict[str, Any]:
    from bastion.compliance import evaluate_control_for

    subj, res = evaluate_control_for(ws, control_id, subject)
    return res.to_dict() | {"subject": subj.to_dict()}
