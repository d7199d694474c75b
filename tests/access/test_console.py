"""The access console pages: JIT grants by state, recent decisions (filterable, with
reasons and obligations), the least-privilege review. Each needs a session (deny by
default), escapes what it shows, and offers no way to approve (that stays on API/CLI + MFA)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from bastion.access import (
    STEP_UP_AFTER,
    Role,
    authenticate,
    create_token,
    issue_session,
    mfa_is_fresh,
    sign_out,
    step_up_session,
)
from bastion.access.interface import (
    Action,
    AuthMethod,
    Identity,
    IdentityKind,
    ResourceKind,
    ResourceRef,
)
from bastion.access.policy import approve_grant, decide, request_grant
from bastion.access.policy._rows import GrantRow
from bastion.api import create_app
from bastion.api.console import SESSION_COOKIE
from bastion.core.errors import AuthError
from bastion.core.workspace import Workspace
from tests._otp import fresh

BASE = "http://testserver"
PAGES = ("/ui/access/grants", "/ui/access/decisions", "/ui/access/review")


@pytest.fixture
def client(sqlite_ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_ws.settings, workspace=sqlite_ws), base_url=BASE) as c:
        yield c


def _sign_in(client: TestClient, ws: Workspace) -> None:
    tok = create_token(ws, name="viewer", role="viewer", actor="admin")
    r = client.post(
        "/ui/login", data={"token": tok.token}, headers={"Origin": BASE}, follow_redirects=False
    )
    assert r.status_code == 303, r.text


def _grants(ws: Workspace) -> dict[str, str]:
    t = create_token(ws, name="bob", role=Role.APPROVER, actor="test")
    bob = authenticate(ws, t.token, fresh(t.totp_secret))
    reason = "ticket INC-9 <script>alert(1)</script>"
    pending = request_grant(
        ws, "vendor:acme", "read-logs", "endpoint:scoring-api", reason, "1h", actor="erin"
    )
    active = request_grant(
        ws,
        "vendor:beta",
        "read-config",
        "endpoint:scoring-api",
        "ticket INC-10 config",
        "2h",
        actor="erin",
    )
    expired = request_grant(
        ws,
        "user:dan",
        "read-logs",
        "endpoint:scoring-api",
        "ticket INC-11 on-call",
        "30m",
        actor="erin",
    )
    approve_grant(ws, active.id, bob)
    bob2 = authenticate(ws, t.token, fresh(t.totp_secret))
    approve_grant(ws, expired.id, bob2)
    with ws.db.session() as s:
        s.execute(
            update(GrantRow)
            .where(GrantRow.id == expired.id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    return {"pending": pending.id, "active": active.id, "expired": expired.id}


def _section(text: str, state: str) -> str:
    m = re.search(rf'data-testid="grants-{state}">(.*?)</section>', text, re.S)
    assert m, state
    return m.group(1)


def test_pages_need_a_session(client: TestClient) -> None:
    for page in PAGES:
        r = client.get(page, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ui/login", page


def test_grants_page_lists_pending_active_and_expired(
    client: TestClient, sqlite_ws: Workspace
) -> None:
    ids = _grants(sqlite_ws)
    _sign_in(client, sqlite_ws)
    r = client.get("/ui/access/grants")
    assert r.status_code == 200
    for state, gid in ids.items():
        sec = _section(r.text, state)
        assert gid in sec and all(other not in sec for other in ids.values() if other != gid)
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text
    assert "<form" not in r.text.split("<main>")[1]  # read-only: no approve button
    assert 'href="/ui/access/grants" class="active"' in r.text


def test_decisions_page_filters_and_shows_reasons_and_obligations(
    client: TestClient, sqlite_ws: Workspace
) -> None:
    officer = Identity(
        "user:olga", IdentityKind.USER, AuthMethod.BEARER, roles=frozenset({"loan-officer"})
    )
    vendor = Identity(
        "vendor:acme", IdentityKind.VENDOR, AuthMethod.BEARER, roles=frozenset({"broker-partner"})
    )
    api = ResourceRef(ResourceKind.ENDPOINT, "scoring-api", {"asset_kind": "inference_endpoint"})
    weights = ResourceRef(ResourceKind.MODEL_VERSION, "credit-gbm@3")
    assert decide(sqlite_ws, officer, Action.INVOKE, api).allowed
    coarse = decide(sqlite_ws, vendor, Action.INVOKE, api)
    assert coarse.allowed and coarse.obligations.coarsen_scores
    assert not decide(sqlite_ws, vendor, Action.DOWNLOAD_WEIGHTS, weights).allowed
    _sign_in(client, sqlite_ws)

    rows = re.findall(
        r'<tr data-testid="decision-row">(.*?)</tr>', client.get("/ui/access/decisions").text, re.S
    )
    assert len(rows) == 3
    assert "vendor:acme" in rows[0] and "download-weights" in rows[0]  # newest first
    assert "denied" in rows[0] and "forbidden by no-vendor-weights" in rows[0]
    assert "labels only" in rows[1] and "partners-score-coarse" in rows[1]
    assert "user:olga" in rows[2] and "allowed" in rows[2]

    denied = client.get("/ui/access/decisions", params={"outcome": "denied"}).text
    got = re.findall(r'<tr data-testid="decision-row">(.*?)</tr>', denied, re.S)
    assert len(got) == 1 and "download-weights" in got[0]
    allowed = client.get("/ui/access/decisions", params={"outcome": "allowed"}).text
    assert len(re.findall(r'data-testid="decision-row"', allowed)) == 2
    assert client.get("/ui/access/decisions", params={"outcome": "maybe"}).status_code == 422


def test_review_page_shows_the_least_privilege_report(
    client: TestClient, sqlite_ws: Workspace
) -> None:
    ids = _grants(sqlite_ws)
    _sign_in(client, sqlite_ws)
    r = client.get("/ui/access/review", params={"days": 7})
    assert r.status_code == 200 and "last 7 days" in r.text
    rows = re.findall(r'<tr data-testid="review-row">(.*?)</tr>', r.text, re.S)
    # the expired grant was never used; the active one (no role) exceeds every baseline of
    # the bundled policy set; the pending one grants nothing yet
    assert any(ids["expired"] in row and "unused" in row for row in rows)
    assert any(ids["active"] in row and "beyond baseline" in row for row in rows)
    assert "baselines.yaml" not in r.text  # the bundled directory has baselines
    assert not any(ids["pending"] in row for row in rows)
    assert client.get("/ui/access/review", params={"days": 0}).status_code == 422


# -- step-up MFA on admin pages ---------------------------------------------------------------


def _get(client: TestClient, path: str, value: str) -> Any:
    client.cookies.clear()
    return client.get(path, headers={"Cookie": f"{SESSION_COOKIE}={value}"}, follow_redirects=False)


def _step_up(client: TestClient, value: str, otp: str, **headers: str) -> Any:
    client.cookies.clear()
    return client.post(
        "/ui/access/step-up",
        data={"otp": otp, "next": "/ui/access/tokens"},
        headers={"Cookie": f"{SESSION_COOKIE}={value}", "Origin": BASE, **headers},
        follow_redirects=False,
    )


def test_admin_page_asks_for_a_fresh_code_after_the_step_up_window(
    client: TestClient, sqlite_ws: Workspace
) -> None:
    t = create_token(sqlite_ws, name="ada", role=Role.ADMIN, actor="test")
    assert t.totp_secret
    ada = authenticate(sqlite_ws, t.token, fresh(t.totp_secret))
    now = datetime.now(UTC)
    # signed in with a code just now: the admin page opens, and lists tokens, no secrets
    recent = issue_session(sqlite_ws, ada, now=now)
    r = _get(client, "/ui/access/tokens", recent)
    assert r.status_code == 200 and t.info.id in r.text and t.token not in r.text
    assert t.totp_secret not in r.text

    # signed in 20 minutes ago (over STEP_UP_AFTER): the page asks for a new code first
    stale = issue_session(sqlite_ws, ada, now=now - STEP_UP_AFTER - timedelta(minutes=5))
    assert mfa_is_fresh(sqlite_ws, recent) and not mfa_is_fresh(sqlite_ws, stale)
    r = _get(client, "/ui/access/tokens", stale)
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/access/step-up?next=/ui/access/tokens"
    form = _get(client, r.headers["location"], stale)
    assert form.status_code == 200 and 'name="next" value="/ui/access/tokens"' in form.text

    assert _step_up(client, stale, "000000").status_code == 401  # wrong code
    assert _step_up(client, stale, "12ab56").status_code == 401  # not a code
    cross = _step_up(client, stale, "123456", **{"Origin": "https://evil.example"})
    assert cross.status_code == 403
    code = fresh(t.totp_secret)
    ok = _step_up(client, stale, code)
    assert ok.status_code == 303 and ok.headers["location"] == "/ui/access/tokens"
    renewed = ok.cookies.get(SESSION_COOKIE)
    assert renewed and renewed != stale and mfa_is_fresh(sqlite_ws, renewed)
    assert _get(client, "/ui/access/tokens", renewed).status_code == 200
    assert _step_up(client, stale, code).status_code == 401  # a code is good once
    kinds = [e.kind for e in sqlite_ws.ledger.entries(limit=1000)]
    assert kinds.count("access.session_step_up") == 1 and "access.mfa_failed" in kinds


def test_step_up_refuses_an_ended_session_and_an_outside_next(
    client: TestClient, sqlite_ws: Workspace
) -> None:
    t = create_token(sqlite_ws, name="ada", role=Role.ADMIN, actor="test")
    ada = authenticate(sqlite_ws, t.token, fresh(t.totp_secret))
    value = issue_session(sqlite_ws, ada)
    client.cookies.clear()
    r = client.post(
        "/ui/access/step-up",
        data={"otp": fresh(t.totp_secret), "next": "//evil.example/ui/"},
        headers={"Cookie": f"{SESSION_COOKIE}={value}", "Origin": BASE},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/"  # never off-site
    assert sign_out(sqlite_ws, value)
    with pytest.raises(AuthError):  # the session is checked before any code
        step_up_session(sqlite_ws, value, "123456")
    assert _get(client, "/ui/access/tokens", value).status_code == 303  # to sign-in


def test_admin_page_is_forbidden_to_other_roles(client: TestClient, sqlite_ws: Workspace) -> None:
    _sign_in(client, sqlite_ws)
    r = client.get("/ui/access/tokens", follow_redirects=False)
    assert r.status_code == 403 and "admin permission" in r.text
    assert "Tokens (admin)" not in client.get("/ui/access/grants").text
