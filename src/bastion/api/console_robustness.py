"""Console pages of the robustness room: per model the latest evaluation, campaign,
membership-inference, defenses and detector verdicts with the robust accuracy; one
evidence with its charts (the robustness curve, the certified-radius histogram when
certified, the membership-inference ROC). Read-only; charts are served as
``image/svg+xml`` from their own routes and embedded with ``<img>``.

Thin: each page calls one public function of the room (``bastion.robustness``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from bastion.access import Principal
from bastion.api._deps import get_ws
from bastion.api.console import _console_principal, templates
from bastion.core.errors import NotFoundError
from bastion.core.workspace import Workspace

router = APIRouter(prefix="/ui", include_in_schema=False)
Viewer = Annotated[Principal, Depends(_console_principal)]
WS = Annotated[Workspace, Depends(get_ws)]

_MAX_ID = 100
_SVG = "image/svg+xml"
_CHARTS = ("curve", "radii", "roc")


def _page(
    request: Request, name: str, ctx: dict[str, Any], p: Principal, status: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"principal": p, **ctx}, status_code=status)


def _missing(request: Request, p: Principal, message: str) -> HTMLResponse:
    ctx = {"status": 404, "title": "Not found", "message": message, "section": "robustness"}
    return _page(request, "error.html", ctx, p, 404)


@router.get("/robustness", response_class=HTMLResponse)
def robustness_page(request: Request, ws: WS, p: Viewer) -> Response:
    from bastion.robustness import latest_by_model

    ctx = {"section": "robustness", "models": latest_by_model(ws)}
    return _page(request, "robustness.html", ctx, p)


@router.get("/robustness/{evidence_id}/{chart}.svg")
def chart_svg(request: Request, evidence_id: str, chart: str, ws: WS, p: Viewer) -> Response:
    from bastion.robustness import evidence_charts, robustness_evidence

    try:
        e = robustness_evidence(ws, evidence_id[:_MAX_ID])
    except NotFoundError:
        return _missing(request, p, "no such robustness evidence")
    svg = evidence_charts(ws, e).get(chart) if chart in _CHARTS else None
    if svg is None:
        return _missing(request, p, "this evidence has no such chart")
    return Response(svg, media_type=_SVG)


@router.get("/robustness/{evidence_id}", response_class=HTMLResponse)
def evidence_page(request: Request, evidence_id: str, ws: WS, p: Viewer) -> Response:
    from bastion.robustness import EVIDENCE_KINDS, evidence_charts, robustness_evidence

    try:
        e = robustness_evidence(ws, evidence_id[:_MAX_ID])
    except NotFoundError:
        return _missing(request, p, "no such robustness evidence")
    ctx = {
        "section": "robustness",
        "ev": e,
        "kind": EVIDENCE_KINDS[e.check_id],
        "charts": sorted(evidence_charts(ws, e)),
        "data": e.data,
    }
    return _page(request, "robustness_detail.html", ctx, p)
