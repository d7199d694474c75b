"""Console pages of the privacy room: the PII map of the scanned datasets, the privacy
budgets, retention status and recorded PIAs; one dataset's budget chart, spends, lineage
and impacted models; one PIA report. Read-only; changes go through the CLI or API
(``bastion data ...``, ``bastion privacy ...``).

Charts are served as ``image/svg+xml`` from their own routes and embedded with ``<img>``,
so nothing in an SVG can run in or restyle the page. Reuses the console's session
dependency and templates (``bastion.api.console``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from bastion.access import Principal
from bastion.api._deps import get_ws
from bastion.api.console import _console_principal, templates
from bastion.core.errors import BastionError, InputError, NotFoundError
from bastion.core.workspace import Workspace
from bastion.privacy.dp import budget_chart_svg, budget_status, list_budgets
from bastion.privacy.lineage import graph_svg, impacted, lineage_graph
from bastion.privacy.pia import get_assessment, list_assessments
from bastion.privacy.pii import latest_scans
from bastion.privacy.retention import retention_status

router = APIRouter(prefix="/ui", include_in_schema=False)
Viewer = Annotated[Principal, Depends(_console_principal)]
WS = Annotated[Workspace, Depends(get_ws)]

_MAX_ID = 200
_SVG = "image/svg+xml"


def _page(
    request: Request, name: str, ctx: dict[str, Any], p: Principal, status: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"principal": p, **ctx}, status_code=status)


def _missing(request: Request, p: Principal, message: str) -> HTMLResponse:
    ctx = {"status": 404, "title": "Not found", "message": message}
    return _page(request, "error.html", ctx, p, 404)


def _budget(ws: Workspace, dataset: str) -> Any:
    try:
        return budget_status(ws, dataset[:_MAX_ID])
    except (NotFoundError, InputError):
        return None


def _lineage(ws: Workspace, dataset: str) -> Any:
    try:
        return lineage_graph(ws, dataset[:_MAX_ID])
    except (NotFoundError, InputError):
        return None


@router.get("/privacy", response_class=HTMLResponse)
def privacy_page(request: Request, ws: WS, p: Viewer) -> Response:
    return _page(
        request,
        "privacy.html",
        {
            "section": "privacy",
            "scans": latest_scans(ws),
            "budgets": list_budgets(ws),
            "retention": retention_status(ws),
            "pias": list_assessments(ws, limit=20),
        },
        p,
    )


@router.get("/privacy/datasets/{dataset_id:path}/budget.svg")
def budget_svg(request: Request, dataset_id: str, ws: WS, p: Viewer) -> Response:
    if _budget(ws, dataset_id) is None:
        return _missing(request, p, "no privacy budget is set for this dataset")
    return Response(budget_chart_svg(ws, dataset_id[:_MAX_ID]), media_type=_SVG)


@router.get("/privacy/datasets/{dataset_id:path}/lineage.svg")
def lineage_svg(request: Request, dataset_id: str, ws: WS, p: Viewer) -> Response:
    g = _lineage(ws, dataset_id)
    if g is None:
        return _missing(request, p, "no lineage is recorded for this dataset")
    return Response(graph_svg(g, f"Lineage of {dataset_id[:_MAX_ID]}"), media_type=_SVG)


@router.get("/privacy/datasets/{dataset_id:path}", response_class=HTMLResponse)
def dataset_page(request: Request, dataset_id: str, ws: WS, p: Viewer) -> Response:
    budget = _budget(ws, dataset_id)
    graph = _lineage(ws, dataset_id)
    if budget is None and graph is None:
        return _missing(request, p, "no privacy budget or lineage is recorded for this dataset")
    models: list[str] = []
    if graph is not None:
        try:
            models = impacted(ws, dataset_id[:_MAX_ID])
        except BastionError:
            models = []
    return _page(
        request,
        "privacy_dataset.html",
        {
            "section": "privacy",
            "dataset": dataset_id[:_MAX_ID],
            "budget": budget,
            "graph": graph,
            "models": models,
        },
        p,
    )


@router.get("/privacy/pia/{evidence_id}", response_class=HTMLResponse)
def pia_page(request: Request, evidence_id: str, ws: WS, p: Viewer) -> Response:
    try:
        ev, data = get_assessment(ws, evidence_id[:_MAX_ID])
    except NotFoundError:
        return _missing(request, p, "no such privacy impact assessment")
    sections: dict[str, list[dict[str, object]]] = {}
    for row in data.rows:
        sections.setdefault(str(row.get("section", "")), []).append(row)
    return _page(
        request,
        "privacy_pia.html",
        {"section": "privacy", "ev": ev, "pia": data, "sections": sections},
        p,
    )
