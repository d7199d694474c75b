"""The access console pages: JIT grants by state, recent decisions (filterable, with
reasons and obligations), the least-privilege review. Each needs a session (deny by
default), escapes what it shows, and offers no way to approve (that stays on API/CLI + MFA)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from bastion.access import Role, authenticate, create_token
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
