"""Authenticators the guard can run with when no other is given.

:class:`ApiTokenAuthenticator` accepts Bastion's own ``bst_`` API tokens
(``bastion.access.authenticate``) as an :class:`Authenticator`: the token's name becomes
the principal ``token:NAME`` with its role. :class:`GuardAuthenticator` (the default) adds
the access room's identity side: client certificates (SPIFFE SVIDs from the workspace CA),
Bastion JWTs for the guard's audience and federated issuers' JWTs.
"""

from __future__ import annotations

import importlib
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


class GuardAuthenticator:
    """Bastion's ``bst_`` API tokens through :class:`ApiTokenAuthenticator`; every other
    credential (client certificate, Bastion JWT, federated JWT) through the access room's
    identity side, for tokens whose audience is the guard's."""

    def __init__(self, ws: Workspace, *, audience: str, identity: Authenticator | None) -> None:
        self.api_tokens = ApiTokenAuthenticator(ws)
        self.identity = identity
        self.audience = audience

    def authenticate(self, credentials: RequestCredentials) -> Identity:
        bearer = credentials.bearer or ""
        if credentials.client_cert_der is None and bearer.startswith("bst_"):
            return self.api_tokens.authenticate(credentials)
        if self.identity is None:
            raise CredentialError("no verifier for this kind of credential is installed")
        return self.identity.authenticate(credentials)


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
