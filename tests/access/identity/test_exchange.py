"""RFC 8693 token exchange: act chains, delegation rules, depth, cycles, lifetimes."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest

from bastion.access.identity import (
    JWT_TOKEN_TYPE,
    DelegationConfig,
    DelegationRule,
    IdentityConfig,
    MemoryJtiStore,
    TokenExchangeError,
    TokenService,
    exchange_token,
)
from bastion.access.interface import Delegation
from bastion.core.workspace import Workspace

STS = "https://bastion.local"


@pytest.fixture
def svc(sqlite_ws: Workspace) -> TokenService:
    rules = (
        DelegationRule(actor="workload:*", subjects=("user:*",)),
        DelegationRule(actor="vendor:acme", subjects=("user:*",)),
    )
    cfg = IdentityConfig(delegation=DelegationConfig(max_depth=2, rules=rules))
    return TokenService(sqlite_ws, config=cfg, store=MemoryJtiStore())


def _x(svc: TokenService, subject: str, actor: str | None = None, **kw: object) -> object:
    return exchange_token(
        svc,
        subject_token=subject,
        subject_token_type=JWT_TOKEN_TYPE,
        actor_token=actor,
        actor_token_type=JWT_TOKEN_TYPE if actor else None,
        audience=str(kw.pop("audience", "scorer-endpoint")),
        federated={},
        **kw,  # type: ignore[arg-type]
    )


def test_delegation_nests_act_and_verifies(svc: TokenService, sqlite_ws: Workspace) -> None:
    alice = svc.issue("user:alice", audience=STS, roles=["analyst", "reader"], amr=["mfa"])
    agent = svc.issue("workload:agent", audience=STS)
    res = exchange_token(
        svc,
        subject_token=alice.token,
        subject_token_type=JWT_TOKEN_TYPE,
        actor_token=agent.token,
        actor_token_type=JWT_TOKEN_TYPE,
        audience="scorer-endpoint",
        scope=["reader"],
        federated={},
    )
    body = res.response()
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["token_type"] == "Bearer" and 0 < body["expires_in"] <= 15 * 60
    assert body["scope"] == "reader"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "user:alice" and claims["act"] == {"sub": "workload:agent", "iss": STS}
    ident = svc.verify(body["access_token"], "scorer-endpoint")
    assert ident.actors == (Delegation("workload:agent", STS),)
    assert ident.roles == frozenset({"reader"}) and ident.mfa
    # a second hop nests the earlier actor inside the new one
    vendor = svc.issue("vendor:acme", audience=STS)
    hop1 = svc.issue("user:alice", audience=STS, actors=[Delegation("workload:agent", STS)])
    res2 = exchange_token(
        svc,
        subject_token=hop1.token,
        subject_token_type=JWT_TOKEN_TYPE,
        actor_token=vendor.token,
        actor_token_type=JWT_TOKEN_TYPE,
        audience="scorer-endpoint",
        federated={},
    )
    c2 = jwt.decode(res2.issued.token, options={"verify_signature": False})
    assert c2["act"] == {
        "sub": "vendor:acme",
        "iss": STS,
        "act": {"sub": "workload:agent", "iss": STS},
    }
    ev = sqlite_ws.ledger.entries(kind="identity.token_exchanged")
    assert ev[0].data["subject_jti"] == alice.jti and ev[0].data["actors"] == ["workload:agent"]


def test_lifetime_never_exceeds_the_subject_token(svc: TokenService) -> None:
    alice = svc.issue("user:alice", audience=STS, ttl_minutes=2)
    agent = svc.issue("workload:agent", audience=STS, ttl_minutes=30)
    res = exchange_token(
        svc,
        subject_token=alice.token,
        subject_token_type=JWT_TOKEN_TYPE,
        actor_token=agent.token,
        actor_token_type=JWT_TOKEN_TYPE,
        audience="x",
        ttl_minutes=30,
        federated={},
    )
    assert res.issued.expires_at <= alice.expires_at
    assert res.response()["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    as_jwt = exchange_token(
        svc,
        subject_token=alice.token,
        subject_token_type=JWT_TOKEN_TYPE,
        audience="x",
        requested_token_type=JWT_TOKEN_TYPE,
        federated={},
    )
    assert as_jwt.response()["issued_token_type"] == JWT_TOKEN_TYPE
    assert res.issued.expires_at - alice.issued_at <= timedelta(minutes=2)


@pytest.mark.parametrize(
    ("subject", "actor", "error", "reason"),
    [
        ("vendor:acme", "workload:agent", "invalid_request", "not allowed to act for"),
        ("user:alice", "user:bob", "invalid_request", "not allowed to act for"),
        ("user:alice", "user:alice", "invalid_request", "cycle"),
    ],
)
def test_delegation_rules_deny_by_default(
    svc: TokenService, subject: str, actor: str, error: str, reason: str
) -> None:
    s = svc.issue(subject, audience=STS).token
    a = svc.issue(actor, audience=STS).token
    with pytest.raises(TokenExchangeError, match=reason) as exc:
        _x(svc, s, a)
    assert exc.value.error == error


def test_depth_and_cycles_in_an_existing_chain(svc: TokenService) -> None:
    deep = svc.issue(
        "user:alice",
        audience=STS,
        actors=[Delegation("workload:a", STS), Delegation("workload:b", STS)],
    ).token
    with pytest.raises(TokenExchangeError, match="exceeds max_depth 2"):
        _x(svc, deep, svc.issue("workload:c", audience=STS).token)
    cyc = svc.issue("user:alice", audience=STS, actors=[Delegation("workload:a", STS)]).token
    with pytest.raises(TokenExchangeError, match="cycle"):
        _x(svc, cyc, svc.issue("workload:a", audience=STS).token)


def test_refusals(svc: TokenService, sqlite_ws: Workspace) -> None:
    alice = svc.issue("user:alice", audience=STS, roles=["reader"]).token
    with pytest.raises(TokenExchangeError, match=r"lacks") as e1:
        _x(svc, alice, scope=["admin"])
    assert e1.value.error == "invalid_scope"
    other_aud = svc.issue("user:alice", audience="somewhere-else").token
    with pytest.raises(TokenExchangeError, match="another audience") as e2:
        _x(svc, other_aud)
    assert e2.value.public == "subject_token does not verify"  # the wire gets no reason
    delegated_actor = svc.issue(
        "workload:agent", audience=STS, actors=[Delegation("workload:x", STS)]
    ).token
    with pytest.raises(TokenExchangeError, match="itself delegated"):
        _x(svc, alice, delegated_actor)
    with pytest.raises(TokenExchangeError, match="subject_token_type"):
        exchange_token(
            svc, subject_token=alice, subject_token_type="saml", audience="x", federated={}
        )
    t = svc.issue("user:alice", audience=STS)
    svc.revoke(t.jti, expires_at=t.expires_at)
    with pytest.raises(TokenExchangeError, match="revoked"):
        _x(svc, t.token)
    refused = sqlite_ws.ledger.entries(kind="identity.exchange_refused", limit=50)
    assert len(refused) == 5
    assert all(alice not in str(e.data) for e in refused)
