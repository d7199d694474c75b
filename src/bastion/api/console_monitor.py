"""Console pages of the monitoring room and of tabletop exercises (issue 12):

- ``/ui/monitor/detections``: the detection queue (``monitor.detection`` ledger events,
  newest first) with ATLAS techniques, severity and the incident opened from each;
- ``/ui/monitor/drift``: the latest ``monitor.drift`` evidence (or one chosen) with its
  PSI chart (inline SVG) and statistics;
- ``/ui/tabletop`` and ``/ui/tabletop/{session}``: exercises, one session's clock, injects,
  steps against their deadlines, decisions, and a form to record a decision (a POST that
  needs the write permission and passes the console's same-origin check, as sign-in does).

Reuses the console's session dependency and templates (``bastion.api.console``).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from bastion.access import Permission, Principal
from bastion.api._deps import get_ws, read_body
from bastion.api.console import _console_principal, _same_origin, templates
from bastion.core.errors import InputError, NotFoundError
from bastion.core.evidence import EvidenceQuery
from bastion.core.workspace import Workspace

router = APIRouter(prefix="/ui", include_in_schema=False)
Viewer = Annotated[Principal, Depends(_console_principal)]
WS = Annotated[Workspace, Depends(get_ws)]

_MAX_ID = 100
_MAX_FORM = 8 * 1024


def _page(
    request: Request, name: str, ctx: dict[str, Any], p: Principal, status: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"principal": p, **ctx}, status_code=status)


def _error(request: Request, p: Principal, status: int, title: str, message: str) -> HTMLResponse:
    ctx = {"status": status, "title": title, "message": message}
    return _page(request, "error.html", ctx, p, status)


@router.get("/monitor/detections", response_class=HTMLResponse)
def detections_page(request: Request, ws: WS, p: Viewer, kind: str | None = None) -> Response:
    from bastion.incidents import incidents_for_detections
    from bastion.monitor import DetectionKind

    kinds = [k.value for k in DetectionKind]
    chosen = kind if kind in kinds else None
    entries = ws.ledger.entries(kind="monitor.detection", newest_first=True, limit=500)
    rows = [e for e in entries if chosen is None or e.data.get("kind") == chosen][:200]
    opened = incidents_for_detections(ws, [str(e.data.get("finding_uid") or "") for e in rows])
    return _page(
        request,
        "monitor_detections.html",
        {"section": "monitor", "rows": rows, "opened": opened, "kinds": kinds, "chosen": chosen},
        p,
    )


@router.get("/monitor/drift", response_class=HTMLResponse)
def drift_page(request: Request, ws: WS, p: Viewer, evidence: str | None = None) -> Response:
    from bastion.monitor.report import psi_chart_svg

    recent = ws.evidence.list(EvidenceQuery(check_id="monitor.drift", limit=20))
    current = recent[0] if recent else None
    if evidence:
        try:
            current = ws.evidence.get(evidence[:_MAX_ID])
        except NotFoundError:
            return _error(request, p, 404, "Not found", "no such drift evidence")
        if current.check_id != "monitor.drift":
            return _error(request, p, 404, "Not found", "that evidence is not a drift report")
    chart = psi_chart_svg(dict(current.data)) if current is not None else None
    return _page(
        request,
        "monitor_drift.html",
        {"section": "drift", "recent": recent, "ev": current, "chart": chart},
        p,
    )


@router.get("/tabletop", response_class=HTMLResponse)
def tabletop_list(request: Request, ws: WS, p: Viewer) -> Response:
    from bastion.incidents import list_incidents, shipped_scenarios

    sessions = [i for i in list_incidents(ws, limit=500) if i.params.get("exercise")][:100]
    return _page(
        request,
        "tabletop_list.html",
        {"section": "tabletop", "sessions": sessions, "scenarios": shipped_scenarios()},
        p,
    )


@router.get("/tabletop/{session_id}", response_class=HTMLResponse)
def tabletop_page(
    request: Request, session_id: str, ws: WS, p: Viewer, error: str | None = None
) -> Response:
    from bastion.incidents import tabletop_session
    from bastion.incidents._tabletop import fmt_offset

    try:
        s = tabletop_session(ws, session_id[:_MAX_ID])
    except NotFoundError:
        return _error(request, p, 404, "Not found", "no such tabletop session")
    return _page(
        request,
        "tabletop_session.html",
        {"section": "tabletop", "s": s, "t": fmt_offset, "can_write": p.can(Permission.WRITE),
         "error": (error or "")[:300] or None},
        p,
    )  # fmt: skip


@router.get("/tabletop/{session_id}/chart.svg")
def tabletop_chart(request: Request, session_id: str, ws: WS, p: Viewer) -> Response:
    from bastion.incidents import tabletop_session, tabletop_svg

    try:
        s = tabletop_session(ws, session_id[:_MAX_ID])
    except NotFoundError:
        return _error(request, p, 404, "Not found", "no such tabletop session")
    return Response(tabletop_svg(s), media_type="image/svg+xml")


@router.post("/tabletop/{session_id}/decisions", response_class=HTMLResponse)
async def tabletop_decide(request: Request, session_id: str, ws: WS, p: Viewer) -> Response:
    from bastion.incidents import decide

    if not _same_origin(request):
        return _error(
            request, p, 403, "Cross-site request refused", "Record decisions from the console."
        )
    if not p.can(Permission.WRITE):
        return _error(request, p, 403, "Forbidden", "recording a decision needs write")
    body = await read_body(request, _MAX_FORM)
    try:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), max_num_fields=10))
    except ValueError:
        return _error(request, p, 400, "Bad request", "The decision form could not be read.")
    sid = session_id[:_MAX_ID]
    step = form.get("step", "").strip()[:64] or None
    back = f"/ui/tabletop/{quote(sid, safe='')}"
    try:
        await run_in_threadpool(
            decide, ws, sid, form.get("decision", "")[:2000], actor=p.actor, step=step
        )
    except NotFoundError:
        return _error(request, p, 404, "Not found", "no such tabletop session")
    except InputError as exc:
        return RedirectResponse(f"{back}?error={quote(exc.message[:300])}", status_code=303)
    return RedirectResponse(back, status_code=303)
