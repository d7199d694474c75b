"""Console pages of the registry and governance rooms: models, a version's gate status
requirement by requirement with the evidence behind each, the approvals queue, the change
advisory board and the RACI. Read-only pages; changes go through the API or CLI.

Reuses the console's session dependency and templates (``bastion.api.console``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from bastion.access import Principal
from bastion.api._deps import get_ws
from bastion.api.console import _console_principal, templates
from bastion.core.errors import BastionError, NotFoundError
from bastion.core.workspace import Workspace
from bastion.governance import list_boards, list_change_requests, list_raci
from bastion.integrity import model_integrity
from bastion.registry import (
    evaluate_gate,
    get_version,
    history,
    list_approvals,
    list_models,
    list_refusals,
    pending_promotions,
)

router = APIRouter(prefix="/ui", include_in_schema=False)
Viewer = Annotated[Principal, Depends(_console_principal)]
WS = Annotated[Workspace, Depends(get_ws)]


def _page(
    request: Request, name: str, ctx: dict[str, Any], p: Principal, status: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"principal": p, **ctx}, status_code=status)


def _missing(request: Request, p: Principal, message: str) -> HTMLResponse:
    return _page(
        request, "error.html", {"status": 404, "title": "Not found", "message": message}, p, 404
    )


@router.get("/registry", response_class=HTMLResponse)
def registry(request: Request, ws: WS, p: Viewer) -> Response:
    return _page(
        request, "registry_models.html", {"section": "registry", "models": list_models(ws)}, p
    )


@router.get("/registry/{name}/{version}", response_class=HTMLResponse)
def version_page(request: Request, name: str, version: str, ws: WS, p: Viewer) -> Response:
    try:
        v = get_version(ws, name, version)
    except (NotFoundError, BastionError):
        return _missing(request, p, f"There is no version {version} of model {name}.")
    approvals = [a for a in list_approvals(ws, name) if a.version == v.version]
    crs = list_change_requests(ws, target=v.ref)
    gates: list[dict[str, Any]] = []
    for stage in ("staging", "production"):
        try:
            gate = evaluate_gate(ws, name, v.version, stage)
        except BastionError as exc:
            gates.append({"stage": stage, "error": exc.message})
            continue
        rows: list[dict[str, Any]] = []
        for r in gate.requirements:
            ev = []
            for eid in r.evidence_ids:
                try:
                    ev.append(ws.evidence.get(eid))
                except NotFoundError:
                    continue
            kind = r.id.split(":", 1)[1] if r.kind == "approval" else None
            rows.append(
                {
                    "r": r,
                    "evidence": ev,
                    # The approvals and change requests behind an approval requirement:
                    # those it counted, and those of its kind it did not (expired, revoked).
                    "approvals": [a for a in approvals if a.kind == kind and a.stage == stage],
                    "counted": set(r.approval_ids),
                    "crs": [c for c in crs if kind and f"cr:{c.id}" in r.approval_ids]
                    if kind
                    else [],
                }
            )
        gates.append({"stage": stage, "gate": gate, "rows": rows})
    return _page(
        request,
        "registry_version.html",
        {
            "section": "registry",
            "v": v,
            "gates": gates,
            "history": [t for t in history(ws, name) if t.version == v.version],
            "approvals": approvals,
            "change_requests": crs,
            "refusals": list_refusals(ws, name, v.version),
            "integrity": model_integrity(ws, v.digest),
        },
        p,
    )


@router.get("/approvals", response_class=HTMLResponse)
def approvals(request: Request, ws: WS, p: Viewer) -> Response:
    return _page(
        request,
        "registry_approvals.html",
        {
            "section": "approvals",
            "pending": pending_promotions(ws),
            "approvals": list_approvals(ws)[:100],
        },
        p,
    )


@router.get("/governance/cab", response_class=HTMLResponse)
def cab(request: Request, ws: WS, p: Viewer) -> Response:
    return _page(
        request,
        "governance_cab.html",
        {
            "section": "cab",
            "boards": list_boards(ws),
            "requests": list_change_requests(ws)[:200],
        },
        p,
    )


@router.get("/governance/raci", response_class=HTMLResponse)
def raci(request: Request, ws: WS, p: Viewer) -> Response:
    return _page(request, "governance_raci.html", {"section": "raci", "rows": list_raci(ws)}, p)
