"""The identity routes end to end: the public JWKS and RFC 8693 token exchange."""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.access.identity import (
    DelegationConfig,
    DelegationRule,
    IdentityConfig,
    TokenService,
)
from bastion.api import create_app
from bastion.core.workspace import Workspace

STS = "https://bastion.local"
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT = "urn:ietf:params:oauth:token-type:jwt"


@pytest.fixture
def client(sqlite_ws: Workspace) -> Iterator[TestClient]:
    (sqlite_ws.settings.home / "identity.yaml").write_text(
        "delegation:\n  rules:\n    - actor: 'workload:*'\n      subjects: ['user:*']\n"
    )
    with TestClient(create_app(sqlite_ws.settings, workspace=sqlite_ws)) as c:
        yield c


def _auth(ws: Workspace, role: Role = Role.ENGINEER) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(ws, name='sts-client', role=role).token}"}


def test_jwks_is_public_and_verifies_tokens(client: TestClient, sqlite_ws: Workspace) -> None:
    r = client.get("/.well-known/jwks.json")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/jwk-set+json")
    (key,) = r.json()["keys"]
    assert set(key) == {"kty", "crv", "x", "kid", "use", "alg"}
    t = TokenService(sqlite_ws).issue("workload:scorer", audience="api")
    assert jwt.decode(t.token, jwt.PyJWK(key).key, algorithms=["EdDSA"], audience="api")
    assert "/.well-known/jwks.json" not in client.get("/openapi.json").json()["paths"]


def test_exchange_returns_the_rfc8693_response(client: TestClient, sqlite_ws: Workspace) -> None:
    svc = TokenService(sqlite_ws)
    alice = svc.issue("user:alice", audience=STS, roles=["reader", "analyst"])
    agent = svc.issue("workload:agent", audience=STS)
    form = {
        "grant_type": GRANT,
        "subject_token": alice.token,
        "subject_token_type": JWT,
        "actor_token": agent.token,
        "actor_token_type": JWT,
        "audience": "scorer",
        "scope": "reader",
    }
    r = client.post("/api/v1/identity/exchange", data=form, headers=_auth(sqlite_ws))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["token_type"] == "Bearer" and body["scope"] == "reader"
    ident = svc.verify(body["access_token"], "scorer")
    assert ident.id == "user:alice" and [a.subject for a in ident.actors] == ["workload:agent"]
    ev = sqlite_ws.ledger.entries(kind="identity.token_exchanged")
    assert ev[-1].actor.startswith("token:") and body["access_token"] not in str(ev[-1].data)


def test_exchange_errors_are_oauth_errors(client: TestClient, sqlite_ws: Workspace) -> None:
    svc = TokenService(sqlite_ws)
    h = _auth(sqlite_ws)
    url = "/api/v1/identity/exchange"
    bob = svc.issue("user:bob", audience=STS).token
    r = client.post(url, data={"grant_type": "password"}, headers=h)
    assert (r.status_code, r.json()["error"]) == (400, "unsupported_grant_type")
    r = client.post(url, data={"grant_type": GRANT, "subject_token_type": JWT}, headers=h)
    assert r.json() == {
        "error": "invalid_request",
        "error_description": "subject_token is required",
    }
    base = {"grant_type": GRANT, "subject_token": bob, "subject_token_type": JWT}
    r = client.post(url, data=base, headers=h)
    assert r.json()["error"] == "invalid_target"
    expired_or_bad = base | {"subject_token": bob[:-4] + "AAAA", "audience": "x"}
    r = client.post(url, data=expired_or_bad, headers=h)
    assert r.json() == {
        "error": "invalid_request",
        "error_description": "subject_token does not verify",  # no reason on the wire
    }
    r = client.post(url, data=base | {"audience": "x", "scope": "admin"}, headers=h)
    assert r.json()["error"] == "invalid_scope"
    r = client.post(url, data=base | {"audience": "x", "extra": "1"}, headers=h)
    assert r.json()["error"] == "invalid_request"
    r = client.post(url, json=base, headers=h)
    assert r.json()["error_description"] == "send application/x-www-form-urlencoded"
    r = client.post(
        url,
        content=b"a=" + b"x" * 40_000,
        headers=h | {"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413


def test_exchange_is_deny_by_default(client: TestClient, sqlite_ws: Workspace) -> None:
    form = {"grant_type": GRANT}
    assert client.post("/api/v1/identity/exchange", data=form).status_code == 401
    viewer = _auth(sqlite_ws, Role.VIEWER)
    assert client.post("/api/v1/identity/exchange", data=form, headers=viewer).status_code == 403


def test_identity_config_errors_are_clear(sqlite_ws: Workspace) -> None:
    from bastion.access.identity import load_identity_config
    from bastion.core.errors import InputError

    (sqlite_ws.settings.home / "identity.yaml").write_text("max_ttl_minutes: 100000\n")
    with pytest.raises(InputError, match="max_ttl_minutes"):
        load_identity_config(sqlite_ws)
    cfg = IdentityConfig(
        delegation=DelegationConfig(
            rules=(DelegationRule(actor="workload:*", subjects=("user:*",)),)
        )
    )
    assert cfg.delegation.allows("workload:a", "user:b")
    assert not cfg.delegation.allows("vendor:a", "user:b")
