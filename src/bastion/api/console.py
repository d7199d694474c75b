"""The web console: server-rendered pages under /ui, with HTMX for the live parts.

Every page but the sign-in form needs a session (deny by default). Sessions are the access
room's (``bastion.access.issue_session`` / ``session_principal`` / ``sign_out``: a row in
``console_sessions`` and a signed value naming it); the console only carries that value in
an HttpOnly, SameSite=Strict cookie. Each request re-reads the session row and the token
behind it, so signing out or revoking the token ends a session at once. The console answers only to the configured host names (``allowed_hosts``): any other
Host header is refused (DNS rebinding), and a form post must carry an Origin (or Referer)
that is one of those hosts and the host the request was sent to (CSRF). The routes only translate HTTP: each calls the rooms' public functions and hands
the result to a template. Security headers are set by one middleware for every /ui
response, redirects and error pages included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bastion import __version__
from bastion.access import (
    SESSION_TTL,
    Permission,
    Principal,
    authenticate,
    issue_session,
    require,
    session_principal,
    sign_out,
)
from bastion.api._deps import declares, get_ws, public, read_body
from bastion.core.checks import all_checks
from bastion.core.errors import AuthError, InputError, NotFoundError
from bastion.core.evidence import EvidenceQuery
from bastion.core.ledger import NoteError, parse_checkpoint
from bastion.core.types import Evidence, Verdict
from bastion.core.workspace import Workspace
from bastion.inventory import get_asset, list_assets, list_systems
from bastion.manifest import AssetKind, Classification
from bastion.web import STATIC_DIR, TEMPLATES_DIR

__all__ = [
    "SECURITY_HEADERS",
    "SESSION_COOKIE",
    "SESSION_TTL",
    "SignInRequired",
    "issue_session",
    "mount_static",
    "router",
]

router = APIRouter(prefix="/ui", include_in_schema=False)

SESSION_COOKIE = "bastion_session"
_MAX_FORM = 8 * 1024
_MAX_PARAM = 200
_EVIDENCE_PAGE = 50
_LEDGER_EVENTS = 50

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

_BAD_SIGN_IN = "Sign-in failed: the token or the one-time code is not valid."
_NEEDS_CODE = (
    "This token's role needs multi-factor authentication: enter the 6-digit code "
    "from your authenticator app."
)
_SESSION_ENDED = "Your session has ended. Sign in again."


def _when(ts: datetime | None) -> str:
    if ts is None:
        return ""
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _asset_url(ref: str) -> str:
    system, _, asset = ref.partition("/")
    return f"/ui/assets/{quote(system, safe='')}/{quote(asset, safe='')}"


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["when"] = _when
_env.globals["asset_url"] = _asset_url
_env.globals["version"] = __version__
templates = Jinja2Templates(env=_env)


# -- sessions -------------------------------------------------------------------------------


class SignInRequired(AuthError):
    """No valid console session: HTML requests go to the sign-in form, HTMX ones are told to."""

    def __init__(self, message: str = "sign in to use the console", *, ended: bool = False) -> None:
        super().__init__(message)
        self.ended = ended


@declares(Permission.READ.value)
def _console_principal(request: Request) -> Principal:
    """Deny by default: a genuine, unexpired session whose token is still valid, or no page."""
    ws = get_ws(request)
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        raise SignInRequired()
    try:
        # access checks the signature, the session row (signed out, expired) and the token.
        principal, sid = session_principal(ws, value)
    except AuthError:
        raise SignInRequired(_SESSION_ENDED, ended=True) from None
    require(principal, Permission.READ)
    request.state.principal = principal
    request.state.session_id = sid
    return principal


Viewer = Annotated[Principal, Depends(_console_principal)]
WS = Annotated[Workspace, Depends(get_ws)]


_DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")


def allowed_hosts(request: Request) -> frozenset[str]:
    """The host names the console answers to (the ``allowed_hosts`` setting)."""
    settings = getattr(request.app.state, "settings", None)
    hosts = getattr(settings, "allowed_hosts", None) or _DEFAULT_HOSTS
    return frozenset(h.lower() for h in hosts)


def _hostname(netloc: str) -> str | None:
    try:
        return urlsplit("//" + netloc).hostname
    except ValueError:
        return None


def host_allowed(host: str | None, allowed: frozenset[str]) -> bool:
    """Is a Host header (``name`` or ``name:port``, IPv6 in brackets) one of ``allowed``?"""
    if not host or len(host) > 300:
        return False
    name = _hostname(host.strip())
    return name is not None and name.lower() in allowed


def _same_origin(request: Request) -> bool:
    """CSRF defence beside SameSite=Strict: a state-changing request must come from one of
    the allowed hosts, and from the very host (and port) it was sent to. The Host header
    alone proves nothing (an attacker's page can send any), so the allowed hosts decide."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    host = request.headers.get("host")
    source = request.headers.get("origin") or request.headers.get("referer")
    if not host or not source or source == "null":
        return False
    allowed = allowed_hosts(request)
    if not host_allowed(host, allowed):
        return False
    try:
        parts = urlsplit(source)
        name = parts.hostname
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and name is not None
        and name.lower() in allowed
        and parts.netloc.lower() == host.lower()
    )


# -- rendering ------------------------------------------------------------------------------


def _page(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    principal: Principal | None = None,
    status: int = 200,
) -> HTMLResponse:
    ctx = {"principal": principal, **context}
    return templates.TemplateResponse(request, name, ctx, status_code=status)


def _error(
    request: Request, status: int, title: str, message: str, principal: Principal | None = None
) -> HTMLResponse:
    return _page(
        request,
        "error.html",
        {"status": status, "title": title, "message": message},
        principal=principal,
        status=status,
    )


def _not_found(request: Request, principal: Principal, message: str) -> HTMLResponse:
    return _error(request, 404, "Not found", message, principal)


def _param(value: str | None) -> str | None:
    """Query parameters as filters: blank means no filter; overlong values are cut."""
    if value is None:
        return None
    value = value.strip()[:_MAX_PARAM]
    return value or None


def _pretty(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _summary(data: Mapping[str, Any], width: int = 140) -> str:
    text = json.dumps(
        data, sort_keys=True, ensure_ascii=False, separators=(", ", ": "), default=str
    )
    return text if len(text) <= width else text[: width - 1] + "…"


def _set_session(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


# -- sign-in --------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse, dependencies=[Depends(public)])
def login_form(request: Request, ended: str | None = None) -> Response:
    if request.cookies.get(SESSION_COOKIE):
        try:
            _console_principal(request)
        except AuthError:
            pass
        else:
            return RedirectResponse("/ui/", status_code=303)
    message = _SESSION_ENDED if ended else None
    return _page(request, "login.html", {"error": None, "notice": message})


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(public)])
async def login(request: Request) -> Response:
    if not _same_origin(request):
        return _error(
            request, 403, "Cross-site request refused", "Sign in from the Bastion console itself."
        )
    body = await read_body(request, _MAX_FORM)
    try:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), max_num_fields=10))
    except ValueError:
        return _error(request, 400, "Bad request", "The sign-in form could not be read.")
    token = form.get("token", "").strip()[:_MAX_PARAM]
    otp = re.sub(r"\s", "", form.get("otp", ""))[:_MAX_PARAM]
    ws = get_ws(request)

    def refuse(message: str) -> HTMLResponse:
        return _page(request, "login.html", {"error": message, "notice": None}, status=401)

    if otp and not re.fullmatch(r"\d{6}", otp):
        return refuse(_BAD_SIGN_IN)
    try:
        principal = authenticate(ws, token or None, otp or None)
    except AuthError:
        return refuse(_BAD_SIGN_IN)
    if principal.role.needs_mfa and not principal.mfa_verified:
        return refuse(_NEEDS_CODE)
    response = RedirectResponse("/ui/", status_code=303)
    _set_session(response, request, issue_session(ws, principal))
    return response


@router.post("/logout", dependencies=[Depends(public)])
def logout(request: Request) -> Response:
    if not _same_origin(request):
        return _error(
            request, 403, "Cross-site request refused", "Sign out from the Bastion console itself."
        )
    value = request.cookies.get(SESSION_COOKIE)
    if value:
        sign_out(get_ws(request), value)
    response = RedirectResponse("/ui/login", status_code=303)
    _clear_session(response, request)
    return response


# -- pages ----------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, ws: WS, p: Viewer) -> Response:
    systems = list_systems(ws)
    assets = list_assets(ws)
    recent = ws.evidence.list(EvidenceQuery(limit=5))
    note = ws.ledger.latest_checkpoint()
    return _page(
        request,
        "overview.html",
        {
            "section": "overview",
            "systems": systems,
            "asset_count": len(assets),
            "evidence_count": ws.evidence.count(),
            "recent": recent,
            "ledger_size": ws.ledger.size(),
            "checkpoint": _checkpoint_view(note),
        },
        principal=p,
    )


def _inventory_filters(
    kind: str | None, owner: str | None, classification: str | None, system: str | None
) -> dict[str, str]:
    raw = {"kind": kind, "owner": owner, "classification": classification, "system": system}
    return {k: v for k, v in ((k, _param(v)) for k, v in raw.items()) if v}


def _inventory_table(ws: Workspace, filters: Mapping[str, str]) -> dict[str, Any]:
    assets = list_assets(
        ws,
        kind=filters.get("kind"),
        owner=filters.get("owner"),
        classification=filters.get("classification"),
        system=filters.get("system"),
    )
    return {"assets": assets, "filters": filters}


@router.get("/inventory", response_class=HTMLResponse)
def inventory(
    request: Request,
    ws: WS,
    p: Viewer,
    kind: str | None = None,
    owner: str | None = None,
    classification: str | None = None,
    system: str | None = None,
) -> Response:
    filters = _inventory_filters(kind, owner, classification, system)
    systems = list_systems(ws)
    owners = sorted({a.owner for a in list_assets(ws)})
    return _page(
        request,
        "inventory.html",
        {
            "section": "inventory",
            "systems": systems,
            "kinds": [k.value for k in AssetKind],
            "classifications": [c.value for c in Classification],
            "owners": owners,
            **_inventory_table(ws, filters),
        },
        principal=p,
    )


@router.get("/inventory/table", response_class=HTMLResponse)
def inventory_table(
    request: Request,
    ws: WS,
    p: Viewer,
    kind: str | None = None,
    owner: str | None = None,
    classification: str | None = None,
    system: str | None = None,
) -> Response:
    """The asset table alone, for the HTMX filter form; the address bar follows the filter."""
    filters = _inventory_filters(kind, owner, classification, system)
    response = _page(request, "_asset_table.html", _inventory_table(ws, filters), principal=p)
    query = urlencode(filters)
    response.headers["HX-Push-Url"] = "/ui/inventory" + (f"?{query}" if query else "")
    return response


@router.get("/assets/{system_id}/{asset_id}", response_class=HTMLResponse)
def asset_page(request: Request, system_id: str, asset_id: str, ws: WS, p: Viewer) -> Response:
    try:
        asset = get_asset(ws, f"{system_id}/{asset_id}")
    except (NotFoundError, InputError):
        return _not_found(request, p, f"There is no asset {system_id}/{asset_id} in the inventory.")
    about_asset = ws.evidence.list(EvidenceQuery(subject_ref=asset.ref, limit=_EVIDENCE_PAGE))
    about_system = ws.evidence.list(
        EvidenceQuery(subject_ref=asset.system_id, limit=_EVIDENCE_PAGE)
    )
    evidence = sorted(about_asset + about_system, key=lambda e: e.created_at, reverse=True)
    return _page(
        request,
        "asset.html",
        {
            "section": "inventory",
            "asset": asset,
            "body": asset.body,
            "history": list(reversed(asset.history)),
            "evidence": evidence,
            "properties": _pretty(asset.body.get("properties") or {}),
        },
        principal=p,
    )


@router.get("/evidence", response_class=HTMLResponse)
def evidence_list(
    request: Request,
    ws: WS,
    p: Viewer,
    check_id: str | None = None,
    verdict: str | None = None,
    offset: int = 0,
) -> Response:
    check = _param(check_id)
    wanted = _param(verdict)
    verdicts = [v.value for v in Verdict]
    notice = None
    if wanted is not None and wanted not in verdicts:
        notice = f"Unknown verdict {wanted!r}: showing every verdict."
        wanted = None
    offset = max(0, min(offset, 1_000_000))
    items = ws.evidence.list(
        EvidenceQuery(
            check_id=check,
            verdict=Verdict(wanted) if wanted else None,
            limit=_EVIDENCE_PAGE + 1,
            offset=offset,
        )
    )
    filters = {k: v for k, v in (("check_id", check), ("verdict", wanted)) if v}
    return _page(
        request,
        "evidence_list.html",
        {
            "section": "evidence",
            "items": items[:_EVIDENCE_PAGE],
            "checks": [c.id for c in all_checks()],
            "verdicts": verdicts,
            "filters": filters,
            "notice": notice,
            "newer": urlencode(filters | {"offset": str(max(0, offset - _EVIDENCE_PAGE))})
            if offset
            else None,
            "older": urlencode(filters | {"offset": str(offset + _EVIDENCE_PAGE)})
            if len(items) > _EVIDENCE_PAGE
            else None,
        },
        principal=p,
    )


def _subject_link(ws: Workspace, e: Evidence) -> str | None:
    """Where the evidence's subject can be looked at in the console, if anywhere."""
    if "/" in e.subject.ref:
        try:
            return _asset_url(get_asset(ws, e.subject.ref).ref)
        except (NotFoundError, InputError):
            return None
    if e.subject.kind == "system":
        return f"/ui/inventory?{urlencode({'system': e.subject.ref})}"
    return None


@router.get("/evidence/{evidence_id}", response_class=HTMLResponse)
def evidence_detail(request: Request, evidence_id: str, ws: WS, p: Viewer) -> Response:
    try:
        e = ws.evidence.get(evidence_id[:_MAX_PARAM])
    except NotFoundError:
        return _not_found(request, p, f"There is no evidence with id {evidence_id[:_MAX_PARAM]}.")
    return _page(
        request,
        "evidence_detail.html",
        {
            "section": "evidence",
            "e": e,
            "intact": ws.evidence.verify_digest(e),
            "data": _pretty(e.data),
            "subject_link": _subject_link(ws, e),
        },
        principal=p,
    )


def _checkpoint_view(note: str | None) -> dict[str, Any] | None:
    if note is None:
        return None
    try:
        cp, sigs = parse_checkpoint(note)
    except (NoteError, InputError):
        return {"note": note, "size": None, "root": None, "origin": None, "signers": []}
    return {
        "note": note,
        "size": cp.size,
        "root": cp.root_hash.hex(),
        "origin": cp.origin,
        "signers": [s.name for s in sigs],
    }


@router.get("/ledger", response_class=HTMLResponse)
def ledger(request: Request, ws: WS, p: Viewer) -> Response:
    events = ws.ledger.entries(limit=_LEDGER_EVENTS, newest_first=True)
    return _page(
        request,
        "ledger.html",
        {
            "section": "ledger",
            "checkpoint": _checkpoint_view(ws.ledger.latest_checkpoint()),
            "size": ws.ledger.size(),
            "events": [(e, _summary(e.data)) for e in events],
        },
        principal=p,
    )


@router.get("/ledger/verify", response_class=HTMLResponse)
def ledger_verify(request: Request, ws: WS, p: Viewer) -> Response:
    """The verification result: a fragment for HTMX, a whole page for a plain link."""
    report = ws.ledger.verify()
    ctx = {"section": "ledger", "report": report, "ms": round(report.seconds * 1000, 1)}
    name = "_verify.html" if request.headers.get("hx-request") else "ledger_verify.html"
    return _page(request, name, ctx, principal=p)


def _unknown_page(request: Request, path: str, p: Viewer) -> Response:
    return _not_found(request, p, "There is no such page in the console.")


# -- wiring ---------------------------------------------------------------------------------


class _ConsoleHeaders:
    """Security headers on every /ui response (pages, redirects, errors and static files),
    and the Host check: a console request for a host name not in ``allowed_hosts`` is
    refused before any route runs (DNS rebinding)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == "/ui" or path.startswith("/ui/")):
            await self.app(scope, receive, send)
            return
        static = path.startswith("/ui/static/")
        request = Request(scope)
        if not host_allowed(request.headers.get("host"), allowed_hosts(request)):
            response = Response(
                "Unknown host: this console answers only to its configured host names.\n",
                status_code=400,
                media_type="text/plain",
            )
            for name, value in SECURITY_HEADERS.items():
                response.headers[name] = value
            response.headers["Cache-Control"] = "no-store"
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                headers["Cache-Control"] = "no-cache" if static else "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    target = "/ui/login?ended=1" if isinstance(exc, SignInRequired) and exc.ended else "/ui/login"
    response: Response
    if request.headers.get("hx-request"):
        # An HTMX fragment must not swap the sign-in form into the page: send the browser there.
        response = Response(status_code=401, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    if request.cookies.get(SESSION_COOKIE):
        _clear_session(response, request)
    return response


def mount_static(app: FastAPI) -> None:
    """Serve the console's static files, and install its headers, sign-in redirect and 404 page.

    Called by create_app after the router is included, so the catch-all 404 comes last.
    """
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    app.add_api_route(
        "/ui/{path:path}",
        _unknown_page,
        methods=["GET"],
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_middleware(_ConsoleHeaders)
