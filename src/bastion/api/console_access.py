"""Console pages of the access room: just-in-time grants (awaiting approval, active,
expired), recent authorization decisions, and the least-privilege review. Read-only:
approving a grant stays on the API and CLI, with MFA.

Admin pages (``/ui/access/tokens``) need the admin role and a TOTP code given within
``STEP_UP_AFTER`` (15 minutes): older, the browser is sent to ``/ui/access/step-up`` for a
fresh code, which the access room checks like a sign-in code (good once, lockout) and which
re-signs the session cookie with the new time (:func:`bastion.access.step_up_session`).

Reuses the console's session dependency and templates (``bastion.api.console``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bastion.access import (
    Permission,
    Principal,
    list_tokens,
    mfa_is_fresh,
    step_up_session,
)
from bastion.access.policy import access_review, list_grants
from bastion.api._deps import get_ws, read_body
from bastion.api.console import (
    SESSION_COOKIE,
    _console_principal,
    _error,
    _same_origin,
    _set_session,
    templates,
)
from bastion.core.errors import AuthError
from bastion.core.workspace import Workspace

router = APIRouter(prefix="/ui/access", include_in_schema=False)
Viewer = Annotated[Principal, Depends(_console_principal)]
WS = Annotated[Workspace, Depends(get_ws)]
#: decisions shown at most (newest first); the ledger CLI and API page further
MAX_DECISIONS = 200
_MAX_FORM = 4 * 1024
_NEXT = re.compile(r"^/ui/[A-Za-z0-9/_.~%-]{0,200}$")
_BAD_CODE = "The one-time code was not accepted. Enter the current code from your app."


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


# -- step-up MFA for admin pages and actions ----------------------------------------------


def step_up_needed(request: Request, principal: Principal, perm: Permission) -> Response | None:
    """For an admin page or action: a 403 page when the role lacks ``perm``, a redirect to
    the step-up form when the session's last TOTP code is older than ``STEP_UP_AFTER``,
    else None (go ahead)."""
    if not principal.can(perm):
        return _error(
            request,
            403,
            "Forbidden",
            f"This page is for roles with the {perm.value} permission.",
            principal,
        )
    value = request.cookies.get(SESSION_COOKIE, "")
    try:
        fresh = mfa_is_fresh(get_ws(request), value)
    except AuthError:
        fresh = False
    if fresh and principal.mfa_verified:
        return None
    here = request.url.path
    return RedirectResponse(f"/ui/access/step-up?next={quote(here, safe='/')}", status_code=303)


def _safe_next(value: str | None) -> str:
    v = (value or "").strip()
    return v if _NEXT.match(v) and "//" not in v and ".." not in v else "/ui/"


@router.get("/step-up", response_class=HTMLResponse)
def step_up_form(request: Request, p: Viewer, next: str | None = None) -> Response:
    return _page(
        request, "access_step_up.html", {"next": _safe_next(next), "error": None, "tab": None}, p
    )


@router.post("/step-up", response_class=HTMLResponse)
async def step_up(request: Request, ws: WS, p: Viewer) -> Response:
    if not _same_origin(request):
        return _error(request, 403, "Cross-site request refused", "Use the console itself.", p)
    body = await read_body(request, _MAX_FORM)
    try:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), max_num_fields=5))
    except ValueError:
        return _error(request, 400, "Bad request", "The form could not be read.", p)
    target = _safe_next(form.get("next"))
    otp = re.sub(r"\s", "", form.get("otp", ""))[:12]
    ctx = {"next": target, "error": _BAD_CODE, "tab": None}
    if not re.fullmatch(r"\d{6}", otp):
        return templates.TemplateResponse(
            request, "access_step_up.html", {"principal": p, "section": "access", **ctx}, 401
        )
    try:
        _, value = step_up_session(ws, request.cookies.get(SESSION_COOKIE, ""), otp)
    except AuthError:
        return templates.TemplateResponse(
            request, "access_step_up.html", {"principal": p, "section": "access", **ctx}, 401
        )
    response = RedirectResponse(target, status_code=303)
    _set_session(response, request, value)
    return response


@router.get("/tokens", response_class=HTMLResponse)
def tokens(request: Request, ws: WS, p: Viewer) -> Response:
    """An admin page: the API tokens (never their secrets); admin role, fresh MFA."""
    stop = step_up_needed(request, p, Permission.ADMIN)
    if stop is not None:
        return stop
    return _page(request, "access_tokens.html", {"tab": "tokens", "tokens": list_tokens(ws)}, p)
