"""Console pages of the access room: just-in-time grants (awaiting approval, active,
expired), recent authorization decisions, and the least-privilege review. Read-only:
approving a grant stays on the API and CLI, with MFA.

Reuses the console's session dependency and templates (``bastion.api.console``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from bastion.access import Principal
from bastion.access.policy import access_review, list_grants
from bastion.api._deps import get_ws
from bastion.api.console import _console_principal, templates
from bastion.core.workspace import Workspace

router = APIRouter(prefix="/ui/access", include_in_schema=False)
Viewer = Annotated[Principal, Depends(_console_principal)]
WS = Annotated[Workspace, Depends(get_ws)]
#: decisions shown at most (newest first); the ledger CLI and API page further
MAX_DECISIONS = 200


def _page(request: Request, name: str, ctx: dict[str, Any], p: Principal) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"principal": p, "section": "access", **ctx})


@router.get("/grants", response_class=HTMLResponse)
def grants(request: Request, ws: WS, p: Viewer) -> Response:
    now = datetime.now(UTC)
    by_state: dict[str, list[Any]] = {"pending": [], "active": [], "expired": []}
    for g in list_grants(ws, limit=1000):
        st = g.state(now)
        if st in by_state:
            by_state[st].append(g)
    return _page(request, "access_grants.html", {"tab": "grants", "by_state": by_state}, p)


@router.get("/decisions", response_class=HTMLResponse)
def decisions(
    request: Request,
    ws: WS,
    p: Viewer,
    outcome: Annotated[Literal["all", "allowed", "denied"], Query()] = "all",
) -> Response:
    rows: list[dict[str, Any]] = []
    for e in ws.ledger.entries(kind="access.decision", limit=MAX_DECISIONS * 5, newest_first=True):
        allowed = bool(e.data.get("allowed"))
        if outcome != "all" and allowed != (outcome == "allowed"):
            continue
        rows.append({"e": e, "allowed": allowed, "obligations": e.data.get("obligations") or {}})
        if len(rows) >= MAX_DECISIONS:
            break
    return _page(
        request, "access_decisions.html", {"tab": "decisions", "rows": rows, "outcome": outcome}, p
    )


@router.get("/review", response_class=HTMLResponse)
def review(
    request: Request, ws: WS, p: Viewer, days: Annotated[int, Query(ge=1, le=3650)] = 30
) -> Response:
    report = access_review(ws, days=days)
    return _page(request, "access_review.html", {"tab": "review", "report": report}, p)
