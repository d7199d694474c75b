"""Identity routes: the JWKS (public by nature) and RFC 8693 token exchange.

``GET /.well-known/jwks.json`` serves the public keys that verify Bastion's tokens; it is
outside the API and declares itself public, like ``/healthz``. ``POST
/api/v1/identity/exchange`` is the RFC 8693 token endpoint. Like every API route it is deny
by default: the client authenticates with a Bastion API token of the ``write`` permission
(RFC 6749 client authentication), and the exchange itself is authorised by the tokens in
the form (the subject token and, for delegation, the actor token).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bastion.access import Permission, Principal
from bastion.access.identity import TokenExchangeError, TokenService, exchange_token
from bastion.api._deps import get_ws, needs, public, read_body
from bastion.core.workspace import Workspace

__all__ = ["router", "well_known"]

router = APIRouter(tags=["identity"])
well_known = APIRouter()
WS = Annotated[Workspace, Depends(get_ws)]
Client = Annotated[Principal, Depends(needs(Permission.WRITE))]
MAX_FORM = 32 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FIELDS = frozenset(
    {
        "grant_type",
        "subject_token",
        "subject_token_type",
        "actor_token",
        "actor_token_type",
        "requested_token_type",
        "audience",
        "scope",
        "resource",
    }
)


@well_known.get("/.well-known/jwks.json", include_in_schema=False, dependencies=[Depends(public)])
def jwks(ws: WS) -> JSONResponse:
    """The JWK Set of Bastion's token-signing public keys (RFC 7517)."""
    return JSONResponse(
        TokenService(ws).jwks(),
        headers={"Cache-Control": "public, max-age=60"},
        media_type="application/jwk-set+json",
    )


def _oauth_error(error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=400, headers=_NO_STORE
    )


@router.post(
    "/identity/exchange",
    summary="OAuth 2.0 Token Exchange (RFC 8693)",
    response_model=None,
)
async def exchange(request: Request, ws: WS, client: Client) -> JSONResponse:
    """Form fields per RFC 8693 section 2.1; the RFC 8693 section 2.2 JSON response, or an
    RFC 6749 error object with status 400."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return _oauth_error("invalid_request", "send application/x-www-form-urlencoded")
    raw = await read_body(request, MAX_FORM)
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=False, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return _oauth_error("invalid_request", "the form does not parse")
    form: dict[str, str] = {}
    for k, v in pairs:
        if k not in _FIELDS:
            return _oauth_error("invalid_request", f"unknown parameter {k[:40]!r}")
        if k in form:
            return _oauth_error("invalid_request", f"parameter {k} given twice")
        form[k] = v
    if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange":
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400, headers=_NO_STORE)
    for need in ("subject_token", "subject_token_type"):
        if need not in form:
            return _oauth_error("invalid_request", f"{need} is required")
    audience = form.get("audience") or form.get("resource")
    if not audience:
        return _oauth_error("invalid_target", "audience (or resource) is required")
    scope = form["scope"].split() if "scope" in form else None

    def run() -> dict[str, Any]:
        return exchange_token(
            TokenService(ws),
            subject_token=form["subject_token"],
            subject_token_type=form["subject_token_type"],
            actor_token=form.get("actor_token"),
            actor_token_type=form.get("actor_token_type"),
            requested_token_type=form.get("requested_token_type"),
            audience=audience,
            scope=scope,
            actor=client.actor,
        ).response()

    try:
        body = await run_in_threadpool(run)
    except TokenExchangeError as exc:
        return _oauth_error(exc.error, exc.public)
    return JSONResponse(body, headers=_NO_STORE)
