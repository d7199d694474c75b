"""Federation: tokens from an external OIDC issuer, verified by its configured JWKS.

The JWKS comes from a file, a URL, or the issuer's discovery document
(``<issuer>/.well-known/openid-configuration``, whose ``issuer`` must match). URLs are
fetched with httpx: a timeout, no redirects, a size limit, https only (plain http only to a
loopback address, for tests and local issuers), and the result is cached for
``jwks_cache_seconds``. An unknown ``kid`` triggers one refetch, at most every
``REFETCH_SECONDS``. Algorithms are RS256, ES256 and EdDSA, the ones the issuer's
configuration allows; the key's type must fit the token's algorithm (``PyJWK`` with the
algorithm named), so a key of one kind can never verify a token of another.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from bastion.access.identity._config import FederatedIssuerConfig
from bastion.access.identity._jwt import peek, verify_signed
from bastion.access.interface import AuthMethod, CredentialError, Identity
from bastion.core.errors import ConfigError

__all__ = ["MAX_JWKS_BYTES", "FederatedVerifier"]

MAX_JWKS_BYTES = 64 * 1024
FETCH_TIMEOUT = 5.0
REFETCH_SECONDS = 10.0
_KEYED_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c", "crit"})
_MFA_AMR = frozenset({"mfa", "otp", "hwk", "sms", "swk"})


def _loopback(host: str | None) -> bool:
    if host in ("localhost",):
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _fetch_json(url: str) -> Any:
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname)):
        raise ConfigError(f"{url}: JWKS and discovery URLs must be https (http only to loopback)")
    try:
        with (
            httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=False) as client,
            client.stream("GET", url, headers={"Accept": "application/json"}) as r,
        ):
            if r.status_code != 200:
                raise CredentialError(f"{url} answered HTTP {r.status_code}")
            body = bytearray()
            for chunk in r.iter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise CredentialError(f"{url}: response over {MAX_JWKS_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise CredentialError(f"{url} unreachable ({type(exc).__name__})") from None
    try:
        return json.loads(bytes(body))
    except ValueError:
        raise CredentialError(f"{url}: not JSON") from None


class FederatedVerifier:
    """Verifies one external issuer's tokens and maps their claims to an :class:`Identity`."""

    def __init__(self, config: FederatedIssuerConfig) -> None:
        self.config = config
        self._keys: dict[str | None, dict[str, Any]] = {}
        self._fetched = 0.0
        self._attempted = -1e18
        self._lock = threading.Lock()

    def _jwks_source(self) -> Any:
        cfg = self.config
        if cfg.jwks_file is not None:
            try:
                data = cfg.jwks_file.read_bytes()
            except OSError:
                raise ConfigError(f"{cfg.jwks_file}: JWKS file unreadable") from None
            if len(data) > MAX_JWKS_BYTES:
                raise ConfigError(f"{cfg.jwks_file}: JWKS over {MAX_JWKS_BYTES} bytes")
            try:
                return json.loads(data)
            except ValueError:
                raise ConfigError(f"{cfg.jwks_file}: not JSON") from None
        url = cfg.jwks_url
        if cfg.discovery:
            doc = _fetch_json(cfg.issuer.rstrip("/") + "/.well-known/openid-configuration")
            if not isinstance(doc, dict) or doc.get("issuer") != cfg.issuer:
                raise CredentialError(f"{cfg.issuer}: discovery document names another issuer")
            url = doc.get("jwks_uri")
            if not isinstance(url, str):
                raise CredentialError(f"{cfg.issuer}: discovery document has no jwks_uri")
        assert url is not None
        return _fetch_json(url)

    def _load(self) -> None:
        self._attempted = time.monotonic()
        raw = self._jwks_source()
        if not isinstance(raw, dict) or not isinstance(raw.get("keys"), list):
            raise CredentialError(f"{self.config.issuer}: JWKS has no keys list")
        keys: dict[str | None, dict[str, Any]] = {}
        for k in raw["keys"][:50]:
            if isinstance(k, dict) and k.get("use", "sig") == "sig":
                kid = k.get("kid")
                keys[kid if isinstance(kid, str) else None] = k
        self._keys = keys
        self._fetched = time.monotonic()

    def _jwk(self, kid: str | None) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            stale = now - self._fetched >= self.config.jwks_cache_seconds
            if (not self._keys or stale) and now - self._attempted >= 1.0:
                self._load()
            if kid not in self._keys and now - self._attempted >= REFETCH_SECONDS:
                self._load()
            if kid is None and len(self._keys) == 1:
                return next(iter(self._keys.values()))
            jwk = self._keys.get(kid)
        if jwk is None:
            raise CredentialError(f"{self.config.issuer}: token names an unknown key")
        return jwk

    def decode(self, token: str) -> dict[str, Any]:
        cfg = self.config
        header = peek(token)[0]
        alg = header.get("alg")
        if alg not in cfg.algorithms:
            raise CredentialError(
                f"token algorithm {str(alg)[:20]!r} is not allowed for {cfg.issuer}"
            )
        if _KEYED_HEADERS & header.keys():
            raise CredentialError("token header names its own key or critical extensions")
        kid = header.get("kid")
        jwk = self._jwk(kid if isinstance(kid, str) else None)
        if jwk.get("alg") not in (None, alg):
            raise CredentialError("token algorithm does not match its key's")
        try:
            key = jwt.PyJWK(jwk, algorithm=str(alg))
        except jwt.PyJWTError:
            raise CredentialError("the issuer's key does not fit the token's algorithm") from None
        return verify_signed(
            token,
            key.key,
            algorithms=[str(alg)],
            audience=cfg.audience,
            issuer=cfg.issuer,
            leeway=30,
            require=["exp", "iss", "aud"],
        )

    def identity(self, claims: Mapping[str, Any]) -> Identity:
        """Map verified claims to an identity (method FEDERATED)."""
        cfg = self.config
        raw_id = claims.get(cfg.id_claim)
        if not isinstance(raw_id, str) or not 0 < len(raw_id) <= 200:
            raise CredentialError(f"token's {cfg.id_claim} claim is missing or malformed")
        roles: list[str] = []
        if cfg.roles_claim:
            r = claims.get(cfg.roles_claim, [])
            if isinstance(r, str):
                roles = r.split()
            elif isinstance(r, list) and all(isinstance(x, str) for x in r):
                roles = list(r)
            else:
                raise CredentialError(f"token's {cfg.roles_claim} claim is malformed")
        attrs: dict[str, str | int | bool | list[str]] = {}
        for name in cfg.attributes:
            v = claims.get(name)
            if isinstance(v, str | bool | int):
                attrs[name] = v
            elif isinstance(v, list) and all(isinstance(x, str) for x in v):
                attrs[name] = list(v)
        prefix = cfg.id_prefix if cfg.id_prefix is not None else f"{cfg.kind.value}:"
        amr = claims.get("amr", [])
        exp = claims.get("exp")
        jti = claims.get("jti")
        return Identity(
            id=f"{prefix}{raw_id}",
            kind=cfg.kind,
            method=AuthMethod.FEDERATED,
            issuer=cfg.issuer,
            roles=frozenset(roles),
            attributes=attrs,
            expires_at=datetime.fromtimestamp(int(exp), UTC) if isinstance(exp, int) else None,
            token_id=jti if isinstance(jti, str) else None,
            mfa=isinstance(amr, list) and bool(_MFA_AMR & {str(a) for a in amr}),
        )
