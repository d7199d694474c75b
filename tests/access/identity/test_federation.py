"""Federation: a real local OIDC issuer (discovery + JWKS over HTTP) the test starts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from bastion.access.identity import (
    BastionAuthenticator,
    FederatedIssuerConfig,
    FederatedVerifier,
    IdentityConfig,
    MemoryJtiStore,
)
from bastion.access.interface import AuthMethod, CredentialError, IdentityKind, RequestCredentials
from bastion.core.errors import ConfigError
from bastion.core.workspace import Workspace


class Issuer:
    """A tiny OIDC issuer on 127.0.0.1: discovery, a JWKS with RSA, EC and Ed25519 keys."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {
            "rsa1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec1": ec.generate_private_key(ec.SECP256R1()),
            "ed1": ed25519.Ed25519PrivateKey.generate(),
        }
        self.hits: list[str] = []
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.hits.append(self.path)
                body: dict[str, Any]
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks.json"}
                elif self.path == "/jwks.json":
                    body = issuer.jwks()
                elif self.path == "/big.json":
                    body = {"keys": [], "pad": "x" * 70_000}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid, k in self.keys.items():
            conv: Any = {"rsa1": RSAAlgorithm, "ec1": ECAlgorithm, "ed1": OKPAlgorithm}[kid]
            jwk = conv.to_jwk(k.public_key(), as_dict=True)
            jwk["kid"] = kid
            out.append(jwk)
        return {"keys": out}

    def token(self, kid: str, alg: str, **over: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": "alice",
            "aud": "bastion",
            "iat": now,
            "exp": now + 300,
            "jti": f"fed-{kid}-{now}",
            "groups": ["analysts"],
            "email": "alice@example.com",
            "amr": ["pwd", "mfa"],
        } | over
        return jwt.encode(claims, self.keys[kid], algorithm=alg, headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    i = Issuer()
    try:
        yield i
    finally:
        i.close()


def _cfg(issuer: Issuer, **over: Any) -> FederatedIssuerConfig:
    base: dict[str, Any] = {
        "issuer": issuer.url,
        "discovery": True,
        "audience": "bastion",
        "roles_claim": "groups",
        "attributes": ("email",),
    }
    return FederatedIssuerConfig(**(base | over))


@pytest.mark.parametrize(("kid", "alg"), [("rsa1", "RS256"), ("ec1", "ES256"), ("ed1", "EdDSA")])
def test_each_algorithm_verifies_and_maps(issuer: Issuer, kid: str, alg: str) -> None:
    v = FederatedVerifier(_cfg(issuer))
    ident = v.identity(v.decode(issuer.token(kid, alg)))
    assert ident.id == "user:alice" and ident.kind is IdentityKind.USER
    assert ident.method is AuthMethod.FEDERATED and ident.issuer == issuer.url
    assert ident.roles == frozenset({"analysts"}) and ident.attributes == {
        "email": "alice@example.com"
    }
    assert ident.mfa and ident.token_id is not None
    assert issuer.hits[:2] == ["/.well-known/openid-configuration", "/jwks.json"]


def test_jwks_is_cached(issuer: Issuer) -> None:
    v = FederatedVerifier(_cfg(issuer))
    for _ in range(3):
        v.decode(issuer.token("ec1", "ES256"))
    assert issuer.hits.count("/jwks.json") == 1


def test_algorithm_confusion_and_forbidden_algorithms(issuer: Issuer) -> None:
    v = FederatedVerifier(_cfg(issuer, algorithms=("RS256", "ES256")))
    with pytest.raises(CredentialError, match="not allowed"):
        v.decode(issuer.token("ed1", "EdDSA"))  # not in this issuer's allowed list
    # an ES256 header naming the RSA key: the key's type must fit the algorithm
    now = int(time.time())
    claims = {"iss": issuer.url, "sub": "eve", "aud": "bastion", "exp": now + 60}
    confused = jwt.encode(claims, issuer.keys["ec1"], algorithm="ES256", headers={"kid": "rsa1"})
    with pytest.raises(CredentialError, match=r"does not fit|does not verify"):
        v.decode(confused)
    # HS256 (an attacker keys it with whatever is public): refused by the list
    hs = jwt.encode(claims, "s" * 64, algorithm="HS256", headers={"kid": "rsa1"})
    with pytest.raises(CredentialError, match="not allowed"):
        v.decode(hs)
    none = jwt.encode(claims, "", algorithm="none")
    with pytest.raises(CredentialError, match="not allowed"):
        v.decode(none)


def test_claims_checked(issuer: Issuer) -> None:
    v = FederatedVerifier(_cfg(issuer))
    with pytest.raises(CredentialError, match="another audience"):
        v.decode(issuer.token("ec1", "ES256", aud="someone-else"))
    with pytest.raises(CredentialError, match="expired"):
        v.decode(issuer.token("ec1", "ES256", exp=int(time.time()) - 100))
    other = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    forged = jwt.encode(
        {"iss": issuer.url, "sub": "eve", "aud": "bastion", "exp": now + 60},
        other,
        algorithm="ES256",
        headers={"kid": "ec1"},
    )
    with pytest.raises(CredentialError, match="signature"):
        v.decode(forged)
    with pytest.raises(CredentialError, match="unknown key"):
        v.decode(
            jwt.encode(
                {"iss": issuer.url, "aud": "bastion", "exp": now + 60},
                other,
                algorithm="ES256",
                headers={"kid": "nope"},
            )
        )


def test_size_limit_and_url_rules(issuer: Issuer, tmp_path: Path) -> None:
    big = FederatedVerifier(_cfg(issuer, discovery=False, jwks_url=issuer.url + "/big.json"))
    with pytest.raises(CredentialError, match="over 65536 bytes"):
        big.decode(issuer.token("ec1", "ES256"))
    remote_http = FederatedVerifier(
        _cfg(issuer, discovery=False, jwks_url="http://example.com/jwks.json")
    )
    with pytest.raises(ConfigError, match="https"):
        remote_http.decode(issuer.token("ec1", "ES256"))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(issuer.jwks()))
    from_file = FederatedVerifier(_cfg(issuer, discovery=False, jwks_file=path))
    assert from_file.identity(from_file.decode(issuer.token("rsa1", "RS256"))).id == "user:alice"


def test_authenticator_picks_the_verifier_by_issuer(issuer: Issuer, sqlite_ws: Workspace) -> None:
    cfg = IdentityConfig(federation=(_cfg(issuer),))
    auth = BastionAuthenticator(sqlite_ws, audience="api", config=cfg, store=MemoryJtiStore())
    fed = auth.authenticate(RequestCredentials(bearer=issuer.token("rsa1", "RS256")))
    assert fed.method is AuthMethod.FEDERATED
    own = auth.tokens.issue("workload:scorer", audience="api")
    assert auth.authenticate(RequestCredentials(bearer=own.token)).method is AuthMethod.BEARER
    stranger = jwt.encode(
        {"iss": "https://stranger.example", "sub": "x", "aud": "api", "exp": int(time.time()) + 60},
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
    )
    with pytest.raises(CredentialError, match="untrusted issuer"):
        auth.authenticate(RequestCredentials(bearer=stranger))
    with pytest.raises(CredentialError, match="no client certificate or bearer"):
        auth.authenticate(RequestCredentials())
    # a federated token's jti can be revoked like a Bastion token's
    t = issuer.token("ec1", "ES256", jti="fed-revoked")
    auth.tokens.revoke("fed-revoked")
    with pytest.raises(CredentialError, match="revoked"):
        auth.authenticate(RequestCredentials(bearer=t))


def test_config_needs_exactly_one_jwks_source(issuer: Issuer) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="exactly one"):
        FederatedIssuerConfig(issuer=issuer.url, audience="b")
