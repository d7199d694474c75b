"""Console pages of the threats, risk and integrity rooms: a system's threat model with its
data-flow diagram, the risk register, recorded FAIR simulations with their charts, and the
models known from integrity evidence and the registry.

Read-only pages behind the console session (deny by default). Charts and diagrams are served
as ``image/svg+xml`` from their own routes and embedded with ``<img>``, so nothing inside an
SVG can run in a page. Each route calls the rooms' public functions and renders a template.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from bastion.access import Principal
from bastion.api._deps import get_ws
from bastion.api.console import _console_principal, templates
from bastion.core.errors import BastionError, InputError, NotFoundError
from bastion.core.evidence import EvidenceQuery
from bastion.core.types import Evidence, Severity
from bastion.core.workspace import Workspace
from bastion.integrity import MODEL_CHECKS
from bastion.risk import (
    RiskSimulationCheck,
    TierRating,
    by_exposure,
    count_simulations,
    get_simulation,
    list_simulations,
    replay_simulation,
)
from bastion.threats import ThreatModel, ThreatModelCheck

router = APIRouter(prefix="/ui", include_in_schema=False)
Viewer = Annotated[Principal, Depends(_console_principal)]
WS = Annotated[Workspace, Depends(get_ws)]

#: The check ids of the model list's columns (which evidence speaks for a model is the
#: integrity room's :data:`bastion.integrity.MODEL_CHECKS`).
MODEL_CHECK_IDS = tuple(c.id for c in MODEL_CHECKS)
_PERCENTILES = ("p10", "p50", "mean", "p90", "p95", "p99")
_MAX_PARAM = 200
_LIST_CAP = 200
_SVG = "image/svg+xml"


def _page(
    request: Request, name: str, ctx: Mapping[str, Any], p: Principal, status: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"principal": p, **ctx}, status_code=status)


def _missing(request: Request, p: Principal, message: str) -> HTMLResponse:
    ctx = {"status": 404, "title": "Not found", "message": message}
    return _page(request, "error.html", ctx, p, 404)


def _unavailable(request: Request, p: Principal, message: str) -> HTMLResponse:
    ctx = {"status": 503, "title": "Not available", "message": message}
    return _page(request, "error.html", ctx, p, 503)


def _param(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()[:_MAX_PARAM]
    return value or None


def _money(v: Any) -> str:
    try:
        return f"{float(v):,.0f}"
    except (TypeError, ValueError):
        return ""


def _svg(body: str) -> Response:
    return Response(body, media_type=_SVG)


def _attachment(body: str, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# -- threats --------------------------------------------------------------------------------


def _threats_of(ws: Workspace, system_id: str) -> ThreatModel | None:
    """The system's threat model, or None when there is no such system."""
    from bastion.threats import system_threats

    try:
        return system_threats(ws, system_id[:_MAX_PARAM])
    except (NotFoundError, InputError):
        return None


def _threat_filters(status: str | None, severity: str | None) -> tuple[dict[str, str], str | None]:
    from bastion.threats import Status

    filters: dict[str, str] = {}
    notes = []
    st, sev = _param(status), _param(severity)
    if st is not None:
        if st in {s.value for s in Status}:
            filters["status"] = st
        else:
            notes.append(f"unknown status {st!r}")
    if sev is not None:
        if sev in {s.value for s in Severity}:
            filters["severity"] = sev
        else:
            notes.append(f"unknown severity {sev!r}")
    notice = "; ".join(notes) + ": that filter is ignored." if notes else None
    return filters, notice


def _finding_rows(model: Any, filters: Mapping[str, str]) -> list[dict[str, Any]]:
    from bastion.threats import load_atlas

    atlas = load_atlas()
    rows = []
    for f in model.findings:
        if "status" in filters and f.status.value != filters["status"]:
            continue
        if "severity" in filters and f.severity.value != filters["severity"]:
            continue
        techniques = []
        for tid in f.rule.atlas:
            tech = atlas.technique(tid)
            techniques.append({"id": tid, "name": tech.name if tech else ""})
        rows.append({"f": f, "atlas": techniques})
    order = {s.value: s.rank for s in Severity}
    rows.sort(key=lambda r: (-order[r["f"].severity.value], r["f"].status.value, r["f"].id))
    return rows


def _threat_table(system_id: str, model: Any, filters: Mapping[str, str]) -> dict[str, Any]:
    return {
        "system_id": system_id,
        "rows": _finding_rows(model, filters),
        "filters": filters,
        "total": len(model.findings),
    }


def _threats_url(system_id: str) -> str:
    return f"/ui/systems/{quote(system_id, safe='')}/threats"


@router.get("/threats", response_class=HTMLResponse)
def threats_index(request: Request, ws: WS, p: Viewer) -> Response:
    from bastion.inventory import list_systems

    rows = []
    for s in list_systems(ws):
        latest = ws.evidence.list(
            EvidenceQuery(check_id=ThreatModelCheck.id, subject_ref=s.id, limit=1)
        )
        rows.append({"s": s, "url": _threats_url(s.id), "latest": latest[0] if latest else None})
    return _page(request, "threats_index.html", {"section": "threats", "rows": rows}, p)


@router.get("/systems/{system_id}/threats", response_class=HTMLResponse)
def threats_page(
    request: Request,
    system_id: str,
    ws: WS,
    p: Viewer,
    status: str | None = None,
    severity: str | None = None,
) -> Response:
    from bastion.threats import Status

    model = _threats_of(ws, system_id)
    if model is None:
        return _missing(
            request, p, f"There is no system {system_id[:_MAX_PARAM]} in the inventory."
        )
    filters, notice = _threat_filters(status, severity)
    by_cell = Counter((f.severity.value, f.status.value) for f in model.findings)
    statuses = [s.value for s in Status]
    counts = [
        {"severity": sev.value, "cells": [by_cell.get((sev.value, st), 0) for st in statuses]}
        for sev in sorted(Severity, key=lambda s: -s.rank)
    ]
    latest = ws.evidence.list(
        EvidenceQuery(check_id=ThreatModelCheck.id, subject_ref=model.system_id, limit=1)
    )
    return _page(
        request,
        "threats_system.html",
        {
            "section": "threats",
            "model": model,
            "summary": model.summary(),
            "statuses": statuses,
            "severities": [s.value for s in sorted(Severity, key=lambda s: -s.rank)],
            "counts": counts,
            "base": _threats_url(model.system_id),
            "notice": notice,
            "latest": latest[0] if latest else None,
            **_threat_table(model.system_id, model, filters),
        },
        p,
    )


@router.get("/systems/{system_id}/threats/table", response_class=HTMLResponse)
def threats_table(
    request: Request,
    system_id: str,
    ws: WS,
    p: Viewer,
    status: str | None = None,
    severity: str | None = None,
) -> Response:
    """The findings table alone, for the HTMX filter form; the address bar follows."""
    model = _threats_of(ws, system_id)
    if model is None:
        return _missing(
            request, p, f"There is no system {system_id[:_MAX_PARAM]} in the inventory."
        )
    filters, _ = _threat_filters(status, severity)
    response = _page(
        request, "threats_table.html", _threat_table(model.system_id, model, filters), p
    )
    query = urlencode(filters)
    response.headers["HX-Push-Url"] = _threats_url(model.system_id) + (f"?{query}" if query else "")
    return response


@router.get("/systems/{system_id}/threats/diagram.svg")
def threats_diagram(request: Request, system_id: str, ws: WS, p: Viewer) -> Response:
    from bastion.threats import render_svg

    model = _threats_of(ws, system_id)
    if model is None:
        return _missing(
            request, p, f"There is no system {system_id[:_MAX_PARAM]} in the inventory."
        )
    try:
        return _svg(render_svg(model))
    except BastionError as exc:
        return _unavailable(request, p, exc.message)


@router.get("/systems/{system_id}/threats/report.html")
def threats_report(request: Request, system_id: str, ws: WS, p: Viewer) -> Response:
    from bastion.threats import render_report, render_svg

    model = _threats_of(ws, system_id)
    if model is None:
        return _missing(
            request, p, f"There is no system {system_id[:_MAX_PARAM]} in the inventory."
        )
    try:
        svg: str | None = render_svg(model)
    except BastionError:
        svg = None  # the report falls back to a Mermaid diagram
    body = render_report(model, "html", svg=svg)
    return _attachment(body, "text/html; charset=utf-8", f"{model.system_id}-threats.html")


@router.get("/systems/{system_id}/threats/navigator.json")
def threats_navigator(request: Request, system_id: str, ws: WS, p: Viewer) -> Response:
    from bastion.threats import navigator_layer

    model = _threats_of(ws, system_id)
    if model is None:
        return _missing(
            request, p, f"There is no system {system_id[:_MAX_PARAM]} in the inventory."
        )
    body = json.dumps(navigator_layer(model), indent=2, ensure_ascii=False)
    return _attachment(body, "application/json", f"{model.system_id}-atlas-layer.json")


# -- risk -----------------------------------------------------------------------------------


def _simulations(ws: Workspace) -> list[Evidence]:
    return list_simulations(ws, limit=_LIST_CAP)


def _simulation(ws: Workspace, evidence_id: str) -> Evidence | None:
    return get_simulation(ws, evidence_id[:_MAX_PARAM])


def _replay(ws: Workspace, e: Evidence) -> tuple[Any, str | None]:
    """The re-run simulation of ``e``, or why it cannot be re-run (the risk room decides)."""
    replay = replay_simulation(ws, e)
    return replay.result, replay.why


def _appetites(ws: Workspace, systems: set[str]) -> dict[str, TierRating | None]:
    from bastion.risk import latest_tier

    return {s: latest_tier(ws, s) for s in sorted(systems)}


@router.get("/risk", response_class=HTMLResponse)
def risk_register(request: Request, ws: WS, p: Viewer, status: str | None = None) -> Response:
    from bastion.risk import RiskStatus, list_risks

    wanted = _param(status)
    notice = None
    if wanted is not None and wanted not in {s.value for s in RiskStatus}:
        notice = f"Unknown status {wanted!r}: showing every status."
        wanted = None
    # Largest exposure first (the risk room's order): unpriced risks last.
    risks = by_exposure(list_risks(ws, status=wanted))
    tiers = _appetites(ws, {r.system_id for r in risks})
    return _page(
        request,
        "risk_register.html",
        {
            "section": "risk",
            "risks": risks,
            "tiers": tiers,
            "statuses": [s.value for s in RiskStatus],
            "status": wanted,
            "notice": notice,
            "money": _money,
            "threats_url": _threats_url,
            "simulations": count_simulations(ws),
        },
        p,
    )


@router.get("/risk/simulations", response_class=HTMLResponse)
def simulations(request: Request, ws: WS, p: Viewer) -> Response:
    return _page(
        request,
        "risk_simulations.html",
        {"section": "risk", "items": _simulations(ws), "money": _money},
        p,
    )


@router.get("/risk/simulations/{evidence_id}", response_class=HTMLResponse)
def simulation_page(request: Request, evidence_id: str, ws: WS, p: Viewer) -> Response:
    e = _simulation(ws, evidence_id)
    if e is None:
        return _missing(request, p, f"There is no recorded simulation {evidence_id[:_MAX_PARAM]}.")
    res, why = _replay(ws, e)
    try:
        sim = RiskSimulationCheck.read(e)
        scenarios, portfolio = list(sim.scenarios), sim.portfolio
    except BastionError:
        scenarios, portfolio = [], None
    tornado = _param(request.query_params.get("scenario"))
    ids = [str(s.get("id")) for s in scenarios]
    if tornado not in ids:
        tornado = None
    base = f"/ui/risk/simulations/{quote(e.id, safe='')}"
    return _page(
        request,
        "risk_simulation.html",
        {
            "section": "risk",
            "e": e,
            "scenarios": scenarios,
            "portfolio": portfolio,
            "percentiles": _PERCENTILES,
            "money": _money,
            "charts": res is not None,
            "why": why,
            "base": base,
            "tornado": tornado,
            "tornado_url": base
            + "/tornado.svg"
            + (f"?{urlencode({'scenario': tornado})}" if tornado else ""),
            "scenario_ids": ids,
        },
        p,
    )


@router.get("/risk/simulations/{evidence_id}/lec.svg")
def simulation_lec(request: Request, evidence_id: str, ws: WS, p: Viewer) -> Response:
    e = _simulation(ws, evidence_id)
    if e is None:
        return _missing(request, p, f"There is no recorded simulation {evidence_id[:_MAX_PARAM]}.")
    res, why = _replay(ws, e)
    if res is None:
        return _unavailable(request, p, f"No chart: {why}.")
    return _svg(res.lec_svg())


@router.get("/risk/simulations/{evidence_id}/tornado.svg")
def simulation_tornado(
    request: Request, evidence_id: str, ws: WS, p: Viewer, scenario: str | None = None
) -> Response:
    e = _simulation(ws, evidence_id)
    if e is None:
        return _missing(request, p, f"There is no recorded simulation {evidence_id[:_MAX_PARAM]}.")
    res, why = _replay(ws, e)
    if res is None:
        return _unavailable(request, p, f"No chart: {why}.")
    sid = _param(scenario)
    if sid is not None and sid not in {r.scenario.id for r in res.results}:
        return _missing(request, p, f"The simulation has no scenario {sid}.")
    return _svg(res.tornado_svg(sid))


@router.get("/risk/{risk_id}", response_class=HTMLResponse)
def risk_detail(request: Request, risk_id: str, ws: WS, p: Viewer) -> Response:
    from bastion.risk import get_risk, latest_tier

    try:
        r = get_risk(ws, risk_id[:_MAX_PARAM])
    except NotFoundError:
        return _missing(request, p, f"There is no risk {risk_id[:_MAX_PARAM]} in the register.")
    threats_base = _threats_url(r.system_id)
    linked = [{"id": t, "url": f"{threats_base}#f-{quote(t, safe='')}"} for t in r.threats]
    summary = dict(r.summary) if r.summary else None
    return _page(
        request,
        "risk_detail.html",
        {
            "section": "risk",
            "r": r,
            "summary": summary,
            "percentiles": _PERCENTILES,
            "tier": latest_tier(ws, r.system_id),
            "linked": linked,
            "threats_url": threats_base,
            "history": list(reversed(r.history)),
            "money": _money,
        },
        p,
    )


# -- models and integrity -------------------------------------------------------------------


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, ws: WS, p: Viewer) -> Response:
    from bastion.registry import models_with_evidence

    rows = models_with_evidence(ws, limit=_LIST_CAP)
    return _page(
        request,
        "integrity_models.html",
        {"section": "models", "rows": rows, "checks": MODEL_CHECK_IDS},
        p,
    )
