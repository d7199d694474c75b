"""Authenticators the guard can run with when no other is given.

:class:`ApiTokenAuthenticator` accepts Bastion's own ``bst_`` API tokens
(``bastion.access.authenticate``) as an :class:`Authenticator`: the token's name becomes
the principal ``token:NAME`` with its role. :class:`GuardAuthenticator` (the default) adds
the access room's identity side: client certificates (SPIFFE SVIDs from the workspace CA),
Bastion JWTs for the guard's audience and federated issuers' JWTs.
"""

from __future__ import annotations

import hashlib
import importlib
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from bastion.access.interface import (
    Authenticator,
    AuthMethod,
    CredentialError,
    Identity,
    IdentityKind,
    RequestCredentials,
)
from bastion.core.errors import AuthError
from bastion.core.workspace import Workspace

__all__ = ["ApiTokenAuthenticator", "GuardAuthenticator", "default_authenticator"]


class ApiTokenAuthenticator:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def authenticate(self, credentials: RequestCredentials) -> Identity:
        from bastion.access import authenticate

        if not credentials.bearer:
            raise CredentialError("no bearer token presented")
        try:
            p = authenticate(self.ws, credentials.bearer)
        except AuthError as exc:
            raise CredentialError(exc.message) from None
        return Identity(
            id=f"token:{p.name}",
            kind=IdentityKind.USER,
            method=AuthMethod.API_TOKEN,
            roles=frozenset({p.role.value}),
            token_id=p.token_id,
            mfa=p.mfa_verified,
        )


class _Verified:
    """Bastion JWTs already verified, keyed by the token's SHA-256 (never the token):
    bounded (least recently used out first), each for at most ``ttl_s`` and never past the
    token's own expiry."""

    def __init__(self, max_entries: int, ttl_s: float) -> None:
        self.max_entries, self.ttl_s = max_entries, ttl_s
        self.entries: OrderedDict[bytes, tuple[Identity, float]] = OrderedDict()
        self.hits = 0

    def get(self, key: bytes, now: float) -> Identity | None:
        hit = self.entries.get(key)
        if hit is None:
            return None
        if hit[1] <= now:
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        self.hits += 1
        return hit[0]

    def put(self, key: bytes, identity: Identity, now: float) -> None:
        until = now + self.ttl_s
        if identity.expires_at is not None:
            until = min(until, now + (identity.expires_at - datetime.now(UTC)).total_seconds())
        if until <= now:
            return
        self.entries[key] = (identity, until)
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)


class GuardAuthenticator:
    """Bastion's ``bst_`` API tokens through :class:`ApiTokenAuthenticator`; every other
    credential (client certificate, Bastion JWT, federated JWT) through the access room's
    identity side, for tokens whose audience is the guard's.

    A bearer JWT's signature and claims (Bastion's or a federated issuer's) are verified
    once per token: later requests with the same token (up to ``cache_ttl_s``, never past
    its ``exp``; at most ``cache_entries`` tokens) skip the signature check, but its
    ``jti`` is still looked up in the revocation store on every request, so a revocation
    holds at once. Single-use tokens and certificates are verified every time."""

    def __init__(
        self,
        ws: Workspace,
        *,
        audience: str,
        identity: Authenticator | None,
        cache_entries: int = 10_000,
        cache_ttl_s: float = 30.0,
    ) -> None:
        self.api_tokens = ApiTokenAuthenticator(ws)
        self.identity = identity
        self.audience = audience
        self.verified = _Verified(cache_entries, cache_ttl_s) if cache_entries > 0 else None

    def _jti_checker(self) -> Any:
        """The access room's token service, whose ``check_jti`` looks a token id up in the
        revocation store (None: nothing is cached, e.g. single-use tokens)."""
        tokens = getattr(self.identity, "tokens", None)
        if tokens is None or getattr(self.identity, "single_use", True):
            return None
        return tokens if callable(getattr(tokens, "check_jti", None)) else None

    def authenticate(self, credentials: RequestCredentials) -> Identity:
        bearer = credentials.bearer or ""
        if credentials.client_cert_der is None and bearer.startswith("bst_"):
            return self.api_tokens.authenticate(credentials)
        if self.identity is None:
            raise CredentialError("no verifier for this kind of credential is installed")
        cache = self.verified
        if cache is None or credentials.client_cert_der is not None or not bearer:
            return self.identity.authenticate(credentials)
        key = hashlib.sha256(bearer.encode("utf-8", "replace")).digest()
        now = time.monotonic()
        hit = cache.get(key, now)
        if hit is not None and hit.token_id is not None:
            tokens = self._jti_checker()
            if tokens is not None:
                exp = hit.expires_at.timestamp() if hit.expires_at is not None else 0.0
                tokens.check_jti(hit.token_id, exp, single_use=False)  # revoked: refused
                return hit
        ident = self.identity.authenticate(credentials)
        if ident.token_id is not None and self._jti_checker() is not None:
            cache.put(key, ident, now)
        return ident


def default_authenticator(ws: Workspace, *, audience: str) -> Authenticator:
    """bst_ tokens, and the access room's ``BastionAuthenticator`` when it is installed."""
    try:
        mod: Any = importlib.import_module("bastion.access.identity")
    except ImportError:
        mod = None
    cls = getattr(mod, "BastionAuthenticator", None) if mod is not None else None
    identity = cls(ws, audience=audience) if cls is not None else None
    if identity is not None and not isinstance(identity, Authenticator):
        identity = None
    return GuardAuthenticator(ws, audience=audience, identity=identity)
