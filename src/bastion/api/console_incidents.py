"""Console pages of the incidents room: the incident list (filter by status) and one
incident with its links, playbook steps (owners, deadlines, overdue) and timeline.
Read-only; changes go through the API or CLI (``bastion incident ...``).

Reuses the console's session dependency and templates (``bastion.api.console``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from bastion.access import Principal
from bastion.api._deps import get_ws
from bastion.api.console import _console_principal, templates
from bastion.core.errors import NotFoundError
from bastion.core.workspace import Workspace
from bastion.incidents import IncidentStatus, get_incident, list_incidents

router = APIRouter(prefix="/ui", include_in_schema=False)
Viewer = Annotated[Principal, Depends(_console_principal)]
WS = Annotated[Workspace, Depends(get_ws)]

_MAX_ID = 100


def _page(
    request: Request, name: str, ctx: dict[str, Any], p: Principal, status: int = 200
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"principal": p, **ctx}, status_code=status)


@router.get("/incidents", response_class=HTMLResponse)
def incidents_page(request: Request, ws: WS, p: Viewer, status: str | None = None) -> Response:
    chosen = status if status in {s.value for s in IncidentStatus} else None
    return _page(
        request,
        "incidents.html",
        {
            "section": "incidents",
            "incidents": list_incidents(ws, status=chosen, limit=200),
            "statuses": [s.value for s in IncidentStatus],
            "chosen": chosen,
        },
        p,
    )


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(request: Request, incident_id: str, ws: WS, p: Viewer) -> Response:
    try:
        inc = get_incident(ws, incident_id[:_MAX_ID])
    except NotFoundError:
        return _page(
            request,
            "error.html",
            {"status": 404, "title": "Not found", "message": "no such incident"},
            p,
            404,
        )
    now = datetime.now(UTC)
    overdue = {
        s.step
        for s in inc.steps
        if s.deadline is not None and s.completed_at is None and s.deadline < now
    }
    return _page(
        request,
        "incident_detail.html",
        {"section": "incidents", "inc": inc, "overdue": overdue},
        p,
    )
