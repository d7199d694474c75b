"""Bastion-issued EdDSA tokens: issuance, pinned verification, revocation, replay, rotation."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bastion.access.identity import (
    IdentityConfig,
    MemoryJtiStore,
    TokenService,
    jwk_thumbprint,
)
from bastion.access.interface import AuthMethod, CredentialError, IdentityKind
from bastion.core.errors import ConflictError, InputError
from bastion.core.workspace import Workspace


@pytest.fixture
def svc(sqlite_ws: Workspace) -> TokenService:
    return TokenService(sqlite_ws, store=MemoryJtiStore())


def _forge(svc: TokenService, **over: Any) -> str:
    """A token signed by the real active key, with claims of the test's choosing."""
    kid, key = svc.keys.active()
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": svc.issuer,
        "sub": "workload:scorer",
        "aud": "api",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "forged-1",
    }
    headers = {"kid": kid, **over.pop("headers", {})}
    claims.update(over)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="EdDSA", headers=headers)


def test_issue_and_verify_round_trip(svc: TokenService, sqlite_ws: Workspace) -> None:
    t = svc.issue(
        "workload:scorer",
        audience="api",
        ttl_minutes=10,
        roles=["reader", "scorer"],
        attributes={"team": "risk", "tier": 2, "tags": ["a", "b"]},
        amr=["mfa", "pwd"],
    )
    header = jwt.get_unverified_header(t.token)
    assert header["alg"] == "EdDSA" and header["kid"] == t.kid
    ident = svc.verify(t.token, "api")
    assert ident.id == "workload:scorer"
    assert ident.kind is IdentityKind.WORKLOAD
    assert ident.method is AuthMethod.BEARER
    assert ident.roles == frozenset({"reader", "scorer"})
    assert ident.attributes == {"team": "risk", "tier": 2, "tags": ["a", "b"]}
    assert ident.mfa is True
    assert ident.token_id == t.jti
    assert ident.expires_at is not None
    assert timedelta(minutes=9) < ident.expires_at - datetime.now(UTC) <= timedelta(minutes=10)
    claims = jwt.decode(t.token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 600 and claims["nbf"] == claims["iat"]
    # the ledger has the issuance with its jti, never the token
    events = sqlite_ws.ledger.entries(kind="identity.token_issued")
    assert [e.data["jti"] for e in events] == [t.jti]
    assert t.token not in json.dumps([e.data for e in events])


def test_lifetime_over_the_maximum_is_refused(svc: TokenService) -> None:
    with pytest.raises(InputError, match="max_ttl_minutes"):
        svc.issue("user:alice", audience="api", ttl_minutes=61)
    with pytest.raises(InputError, match="principal"):
        svc.issue("alice", audience="api")


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"aud": "other"}, "another audience"),
        ({"iss": "https://evil.example"}, "another issuer"),
        ({"exp": int(time.time()) - 120, "iat": int(time.time()) - 400}, "expired"),
        ({"nbf": int(time.time()) + 600, "exp": int(time.time()) + 900}, "not valid yet"),
        ({"iat": int(time.time()) + 600, "exp": int(time.time()) + 900}, "not valid yet|future"),
        ({"exp": int(time.time()) + 7200}, "lifetime exceeds"),
        ({"jti": None}, "jti"),
        ({"headers": {"jku": "https://evil.example/jwks"}}, "names its own key"),
        ({"headers": {"kid": "unknown-kid"}}, "unknown or retired key"),
    ],
)
def test_bad_claims_and_headers_are_refused(
    svc: TokenService, over: dict[str, Any], reason: str
) -> None:
    with pytest.raises(CredentialError, match=reason):
        svc.verify(_forge(svc, **over), "api")


def test_small_clock_skew_is_within_leeway(svc: TokenService) -> None:
    now = int(time.time())
    token = _forge(svc, exp=now - 10, iat=now - 300, nbf=now - 300)
    assert svc.verify(token, "api").id == "workload:scorer"


def test_algorithm_is_pinned(svc: TokenService) -> None:
    now = int(time.time())
    claims = {
        "iss": svc.issuer,
        "sub": "user:eve",
        "aud": "api",
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "jti": "x",
    }
    kid, key = svc.keys.active()
    # alg none
    none = jwt.encode(claims, "", algorithm="none", headers={"kid": kid})
    with pytest.raises(CredentialError, match="not EdDSA"):
        svc.verify(none, "api")
    # alg confusion: HS256 keyed with the public key bytes anyone can read from the JWKS
    pub_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    h = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": kid}).encode()).rstrip(b"=")
    p = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    import hashlib
    import hmac

    sig = base64.urlsafe_b64encode(hmac.new(pub_pem, h + b"." + p, hashlib.sha256).digest())
    confused = (h + b"." + p + b"." + sig.rstrip(b"=")).decode()
    with pytest.raises(CredentialError, match="not EdDSA"):
        svc.verify(confused, "api")
    # a different asymmetric algorithm with a key of its own
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rs = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": kid})
    with pytest.raises(CredentialError, match="not EdDSA"):
        svc.verify(rs, "api")


def test_tampered_and_garbage_tokens_are_refused(svc: TokenService) -> None:
    t = svc.issue("user:alice", audience="api").token
    head, body, sig = t.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["roles"] = ["admin"]
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(CredentialError, match="signature"):
        svc.verify(f"{head}.{forged_body}.{sig}", "api")
    with pytest.raises(CredentialError, match="well-formed"):
        svc.verify("not-a-jwt", "api")
    with pytest.raises(CredentialError, match="too large"):
        svc.verify("a" * 10_000, "api")


def test_revocation_and_replay(svc: TokenService, sqlite_ws: Workspace) -> None:
    t = svc.issue("workload:scorer", audience="api")
    assert svc.verify(t.token, "api", single_use=True).id == "workload:scorer"
    with pytest.raises(CredentialError, match="replay"):
        svc.verify(t.token, "api", single_use=True)
    assert svc.verify(t.token, "api").token_id == t.jti  # reusable unless single-use
    svc.revoke(t.jti, expires_at=t.expires_at, reason="leaked", actor="test")
    with pytest.raises(CredentialError, match="revoked"):
        svc.verify(t.token, "api")
    with pytest.raises(ConflictError):
        svc.revoke(t.jti)
    ev = sqlite_ws.ledger.entries(kind="identity.token_revoked")
    assert [e.data["jti"] for e in ev] == [t.jti]


def test_revocation_reaches_another_process_store_through_the_database(
    sqlite_ws: Workspace,
) -> None:
    """A memory store reloads the database's revocations: a revocation made by another
    process (another store) is seen."""
    from bastion.access.identity._store import _db_loader

    a = TokenService(sqlite_ws, store=MemoryJtiStore())
    t = a.issue("user:alice", audience="api")
    b = TokenService(
        sqlite_ws, store=MemoryJtiStore(loader=_db_loader(sqlite_ws), reload_seconds=0)
    )
    assert b.verify(t.token, "api").id == "user:alice"
    a.revoke(t.jti, expires_at=t.expires_at)
    with pytest.raises(CredentialError, match="revoked"):
        b.verify(t.token, "api")


def test_rotation_keeps_the_old_key_until_its_tokens_expire(
    svc: TokenService, sqlite_ws: Workspace
) -> None:
    old = svc.issue("user:alice", audience="api")
    new_kid, old_kid = svc.rotate_key()
    assert old_kid == old.kid and new_kid != old_kid
    kids = {k["kid"] for k in svc.jwks()["keys"]}
    assert kids == {old_kid, new_kid}
    assert svc.verify(old.token, "api").id == "user:alice"  # still verifies
    fresh = svc.issue("user:bob", audience="api")
    assert fresh.kid == new_kid
    # the old private key is gone; only its public key stays
    assert not (svc.keys.dir / f"{old_kid}.key.pem").exists()
    # past the window the old key is no longer published
    later = datetime.now(UTC) + timedelta(minutes=61, seconds=31)
    assert {k["kid"] for k in svc.keys.jwks(later)["keys"]} == {new_kid}
    assert sqlite_ws.ledger.entries(kind="identity.key_rotated")[0].data["previous"] == old_kid


def test_jwks_is_rfc7517_and_kid_is_the_thumbprint(svc: TokenService) -> None:
    doc = svc.jwks()
    (k,) = doc["keys"]
    assert k["kty"] == "OKP" and k["crv"] == "Ed25519" and k["alg"] == "EdDSA"
    assert "d" not in k  # never a private part
    key = jwt.PyJWK(k).key
    assert jwk_thumbprint(key) == k["kid"]
    t = svc.issue("user:alice", audience="api")
    assert jwt.decode(t.token, key, algorithms=["EdDSA"], audience="api")["sub"] == "user:alice"


def test_signing_key_file_is_private(svc: TokenService) -> None:
    kid, _ = svc.keys.active()
    path = svc.keys.dir / f"{kid}.key.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    from bastion.core.errors import KeyringError

    with pytest.raises(KeyringError, match="group or others"):
        svc.keys.active()


def test_configured_maximum(sqlite_ws: Workspace) -> None:
    svc = TokenService(
        sqlite_ws,
        config=IdentityConfig(max_ttl_minutes=5, default_ttl_minutes=5),
        store=MemoryJtiStore(),
    )
    with pytest.raises(InputError, match=r"\(0, 5\]"):
        svc.issue("user:alice", audience="api", ttl_minutes=6)
    assert svc.issue("user:alice", audience="api").expires_in <= 300
