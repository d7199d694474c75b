"""The access routes through the app factory, with real tokens and TOTP codes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.workspace import Workspace
from tests._otp import mfa_headers


@pytest.fixture
def client(sqlite_ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_ws.settings, workspace=sqlite_ws)) as c:
        yield c


def _bearer(ws: Workspace, role: Role, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ws, name=name, role=role).token}"}


GRANT = {
    "principal": "vendor:acme",
    "action": "read-logs",
    "resource": "endpoint:scoring-api",
    "reason": "ticket INC-9: timeouts since Monday",
    "duration": "1h",
    "roles": ["vendor-support"],
}


def test_grant_lifecycle_over_the_api(client: TestClient, sqlite_ws: Workspace) -> None:
    eng = _bearer(sqlite_ws, Role.ENGINEER, "erin")
    viewer = _bearer(sqlite_ws, Role.VIEWER, "vic")
    assert client.post("/api/v1/access/grants", json=GRANT).status_code == 401
    assert client.post("/api/v1/access/grants", json=GRANT, headers=viewer).status_code == 403
    r = client.post("/api/v1/access/grants", json=GRANT, headers=eng)
    assert r.status_code == 201, r.text
    g = r.json()
    assert g["state"] == "pending" and g["requested_by"].endswith(":erin")
    bad = client.post("/api/v1/access/grants", json=GRANT | {"duration": "9d"}, headers=eng)
    assert bad.status_code == 422 and "7 days" in bad.json()["detail"]
    extra = client.post("/api/v1/access/grants", json=GRANT | {"admin": True}, headers=eng)
    assert extra.status_code == 422

    # Approving needs the approve permission AND a fresh code.
    no_mfa = client.post(
        f"/api/v1/access/grants/{g['id']}/approve", headers=_bearer(sqlite_ws, Role.APPROVER, "ann")
    )
    assert no_mfa.status_code == 403 and "multi-factor" in no_mfa.json()["detail"]
    ok = client.post(
        f"/api/v1/access/grants/{g['id']}/approve",
        headers=mfa_headers(sqlite_ws, "bob"),
        json={"note": "for INC-9 only"},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["state"] == "active"
    again = client.post(
        f"/api/v1/access/grants/{g['id']}/approve", headers=mfa_headers(sqlite_ws, "cat")
    )
    assert again.status_code == 409

    decide = {
        "principal": {"id": "vendor:acme", "kind": "vendor", "roles": ["vendor-support"]},
        "action": "read-logs",
        "resource": "endpoint:scoring-api",
    }
    d = client.post("/api/v1/policy/decide", json=decide, headers=eng)
    assert d.status_code == 200, d.text
    assert d.json()["allowed"] and d.json()["grant_id"] == g["id"]
    assert client.post("/api/v1/policy/decide", json=decide, headers=viewer).status_code == 403
    listed = client.get("/api/v1/access/grants", params={"state": "active"}, headers=viewer)
    assert [x["id"] for x in listed.json()] == [g["id"]]
    assert client.get(f"/api/v1/access/grants/{g['id']}", headers=viewer).json()["use_count"] == 1
    assert client.get("/api/v1/access/grants/grt_nope", headers=viewer).status_code == 404
    review = client.get("/api/v1/access/review", params={"days": 7}, headers=viewer)
    assert review.status_code == 200 and review.json()["days"] == 7

    revoked = client.post(
        f"/api/v1/access/grants/{g['id']}/revoke", headers=mfa_headers(sqlite_ws, "dan")
    )
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    d2 = client.post("/api/v1/policy/decide", json=decide, headers=eng).json()
    assert not d2["allowed"] and "denied by default" in d2["reasons"][0]

    kinds = [e.kind for e in sqlite_ws.ledger.entries() if e.kind.startswith("access.")]
    assert kinds.count("access.decision") == 2
    assert "access.grant_used" in kinds and "access.grant_revoked" in kinds
    assert "access.policy_loaded" in kinds


def test_decide_refuses_caller_supplied_resource_attributes(
    client: TestClient, sqlite_ws: Workspace
) -> None:
    eng = _bearer(sqlite_ws, Role.ENGINEER, "erin")
    principal: dict[str, object] = {"id": "user:max", "kind": "user", "roles": ["ml-engineer"]}
    body: dict[str, object] = {
        "principal": principal,
        "action": "download-weights",
        "resource": "model_version:credit-gbm",
        "resource_attributes": {"classification": "public"},
    }
    r = client.post("/api/v1/policy/decide", json=body, headers=eng)
    assert r.status_code == 422
    body.pop("resource_attributes")
    principal["id"] = "vendor:max"
    r = client.post("/api/v1/policy/decide", json=body, headers=eng)
    assert r.status_code == 422 and "must start with user:" in r.json()["detail"]
