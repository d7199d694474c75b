"""Issue 13 section 6: the deny-by-default startup rule covers every route, the console's
included; and the console's sessions and views are the rooms' functions (section 3)."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bastion.api._deps import PUBLIC
from bastion.api.app import _api_routes, _permission_of, create_app, enforce_route_permissions
from bastion.core.settings import Settings
from bastion.core.workspace import Workspace


def test_finding_6_undeclared_console_page_refuses_to_start(
    settings: Settings, ws: Workspace
) -> None:
    """A console page (outside the OpenAPI schema) that declares no permission stops the
    app from starting, as an undeclared API route always did."""
    app = create_app(settings, ws)
    page = APIRouter(prefix="/ui", include_in_schema=False)

    @page.get("/undeclared", response_class=HTMLResponse)
    def undeclared(request: Request) -> str:
        return "<p>anyone can read this</p>"

    app.include_router(page)
    with pytest.raises(RuntimeError, match=r"GET /ui/undeclared declares no permission"):
        enforce_route_permissions(app)


def test_finding_6_api_route_may_not_be_public(settings: Settings, ws: Workspace) -> None:
    from fastapi import Depends

    from bastion.api._deps import public

    app = create_app(settings, ws)
    api = APIRouter(prefix="/api/v1")

    @api.get("/open", dependencies=[Depends(public)])
    def open_route() -> dict[str, str]:
        return {}

    app.include_router(api)
    with pytest.raises(RuntimeError, match=r"API route GET /api/v1/open may not be public"):
        enforce_route_permissions(app)


def test_finding_6_every_route_declares_a_permission(settings: Settings, ws: Workspace) -> None:
    """The real app: every console page needs a session with read; only the sign-in form,
    sign-out, health, the root redirect and the JWKS are public, and they say so."""
    app = create_app(settings, ws)
    perms = {
        (route.path, ",".join(sorted(route.methods or ()))): _permission_of(route.dependant)
        for route in _api_routes(app.routes)
    }
    assert None not in perms.values()
    public = {k for k, v in perms.items() if v == PUBLIC}
    assert public == {
        ("/ui/login", "GET"),
        ("/ui/login", "POST"),
        ("/ui/logout", "POST"),
        ("/healthz", "GET"),
        ("/", "GET"),
        # the identity room's public keys (RFC 7517): verifiers fetch them unauthenticated
        ("/.well-known/jwks.json", "GET"),
    }
    console = {k: v for k, v in perms.items() if k[0].startswith("/ui/") and k not in public}
    assert console and set(console.values()) == {"read"}
    assert perms[("/ui/{path:path}", "GET")] == "read"


def test_finding_3_sessions_are_the_access_rooms(ws: Workspace) -> None:
    """Issuing and checking console sessions is authentication: the access room's
    ``issue_session`` / ``session_principal`` / ``sign_out``, the console only carries the
    value in its cookie."""
    from bastion.access import (
        authenticate,
        create_token,
        issue_session,
        read_session,
        session_principal,
        sign_out,
    )
    from bastion.core.errors import AuthError

    new = create_token(ws, name="viewer", role="viewer", actor="test")
    principal = authenticate(ws, new.token)
    value = issue_session(ws, principal)
    who, sid = session_principal(ws, value)
    assert who.token_id == principal.token_id and read_session(ws, value) == (who.token_id, sid)
    for forged in (value[:-2] + ("AA" if not value.endswith("AA") else "BB"), "x" * 5000, ""):
        with pytest.raises(AuthError):
            session_principal(ws, forged)
    assert sign_out(ws, value) is True
    with pytest.raises(AuthError):
        session_principal(ws, value)
    assert sign_out(ws, value) is False  # already ended
    kinds = [e.kind for e in ws.ledger.entries(limit=20)]
    assert "access.session_opened" in kinds and "access.session_ended" in kinds


def test_finding_3_evidence_is_counted_not_listed(settings: Settings, ws: Workspace) -> None:
    """The overview counts evidence with one COUNT query: past the 1,000 rows a listing
    stops at, the tile shows the real number (it said "1000+")."""
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from bastion.access import authenticate, create_token, issue_session
    from bastion.api.console import SESSION_COOKIE
    from bastion.core.evidence import EvidenceQuery
    from bastion.core.types import Subject, Verdict

    with ws.db.session() as s:
        for i in range(1001):
            ws.evidence.record(
                check_id="test.count" if i else "test.other",
                subject=Subject("system", f"s{i % 7}"),
                verdict=Verdict.PASS,
                actor="test",
                session=s,
            )
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement.lower())

    event.listen(ws.db.engine, "before_cursor_execute", seen)
    try:
        assert ws.evidence.count() == 1001
    finally:
        event.remove(ws.db.engine, "before_cursor_execute", seen)
    assert len(statements) == 1 and "count(" in statements[0]
    assert ws.evidence.count(EvidenceQuery(check_id="test.count", limit=1)) == 1000
    assert ws.evidence.count(EvidenceQuery(check_id="test.other")) == 1
    assert ws.evidence.count(EvidenceQuery(subject_ref="s0")) == 143

    app = create_app(settings, ws)
    principal = authenticate(ws, create_token(ws, name="v", role="viewer", actor="t").token)
    with TestClient(app) as client:
        client.cookies.set(SESSION_COOKIE, issue_session(ws, principal), path="/ui")
        body = client.get("/ui/").text
    assert 'data-testid="count-evidence">1001<' in body
