"""The FastAPI application: REST API under /api/v1, the console under /ui."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from bastion import __version__
from bastion.api._deps import PUBLIC, declared_permission, public
from bastion.core.errors import AuthError, BastionError
from bastion.core.settings import Settings, get_settings
from bastion.core.workspace import Workspace, open_workspace

__all__ = ["create_app", "enforce_route_permissions"]

PROBLEM = "application/problem+json"


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """An RFC 9457 problem document."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail} | extra
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="bastion"'
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers or None)


def _permission_of(dependant: Any) -> str | None:
    for dep in dependant.dependencies:
        declared = declared_permission(dep.call)
        if declared is not None:
            return declared
        found = _permission_of(dep)
        if found:
            return found
    return None


def _api_routes(routes: Any) -> list[APIRoute]:
    """Every APIRoute, also inside included routers (newer FastAPI nests them lazily)."""
    out: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "original_router"):
            out.extend(_api_routes(route.original_router.routes))
        elif hasattr(route, "routes"):
            out.extend(_api_routes(route.routes))
    return out


def enforce_route_permissions(app: FastAPI) -> None:
    """Every route declares the permission it needs, API and console alike; an API route's
    is published as ``x-bastion-permission`` in OpenAPI.

    A route without one is a bug (deny by default): refuse to start rather than serve it.
    Only routes outside the API (the sign-in form, health, the root redirect) may declare
    themselves public, and they must say so (:func:`bastion.api._deps.public`).
    """
    for route in _api_routes(app.routes):
        perm = _permission_of(route.dependant)
        methods = ",".join(sorted(route.methods or ()))
        if perm is None:
            raise RuntimeError(f"route {methods} {route.path} declares no permission")
        if not route.include_in_schema:
            continue
        if perm == PUBLIC:
            raise RuntimeError(f"API route {methods} {route.path} may not be public")
        route.openapi_extra = (route.openapi_extra or {}) | {"x-bastion-permission": perm}


def create_app(settings: Settings | None = None, workspace: Workspace | None = None) -> FastAPI:
    settings = settings or get_settings()
    ws = workspace or open_workspace(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if workspace is None:
            ws.close()

    app = FastAPI(
        title="Bastion",
        version=__version__,
        description="The AI security control plane. Every route needs a bearer token.",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.workspace = ws
    app.state.settings = settings

    from bastion.api import (
        compliance,
        evidence,
        governance,
        incidents,
        integrity,
        inventory,
        ledger,
        privacy,
        privacy_dp,
        privacy_gov,
        registry,
        risk,
        threats,
        tokens,
    )

    for module in (
        inventory,
        evidence,
        ledger,
        tokens,
        threats,
        risk,
        integrity,
        registry,
        governance,
        compliance,
        privacy,
        privacy_dp,
        privacy_gov,
        incidents,
    ):
        app.include_router(module.router, prefix="/api/v1")
    from bastion.api import identity as identity_routes

    app.include_router(identity_routes.router, prefix="/api/v1")
    from bastion.api import access as access_routes

    app.include_router(access_routes.router, prefix="/api/v1")
    from bastion.api import robustness as robustness_routes

    app.include_router(robustness_routes.router, prefix="/api/v1")
    # public by nature, like /healthz: outside the API, declared public, not in the schema
    app.include_router(identity_routes.well_known)
    from bastion.api import console, console_incidents, console_registry, console_security

    app.include_router(console_incidents.router)
    from bastion.api import console_monitor, tabletop

    app.include_router(tabletop.router, prefix="/api/v1")
    app.include_router(console_monitor.router)
    from bastion.api import console_privacy

    app.include_router(console_privacy.router)
    from bastion.api import console_access

    app.include_router(console_access.router)
    from bastion.api import console_robustness

    app.include_router(console_robustness.router)
    app.include_router(console_registry.router)
    app.include_router(console_security.router)
    app.include_router(console.router)
    console.mount_static(app)

    @app.exception_handler(BastionError)
    async def _bastion_error(request: Request, exc: BastionError) -> Any:
        if (
            isinstance(exc, AuthError)
            and request.url.path.startswith("/ui")
            and exc.http_status == 401
        ):
            return RedirectResponse("/ui/login", status_code=303)
        extra: dict[str, Any] = {}
        problems = getattr(exc, "problems", None)
        if problems:
            extra["errors"] = [str(p) for p in problems]
        headers = getattr(exc, "headers", None)
        return problem(
            exc.http_status,
            exc.title,
            exc.message,
            headers if isinstance(headers, dict) else None,
            **extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": ".".join(str(x) for x in e.get("loc", ())), "msg": e.get("msg")}
            for e in exc.errors()
        ]
        return problem(422, "Invalid request", "the request does not match the API", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal(_request: Request, exc: Exception) -> JSONResponse:
        return problem(
            500,
            "Internal error",
            f"{type(exc).__name__}: the server could not complete the request",
        )

    @app.get("/healthz", include_in_schema=False, dependencies=[Depends(public)])
    async def healthz() -> PlainTextResponse:
        """Liveness for load balancers: says nothing but 'ok'."""
        return PlainTextResponse("ok")

    @app.get("/", include_in_schema=False, dependencies=[Depends(public)])
    async def root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=303)

    enforce_route_permissions(app)

    return app
