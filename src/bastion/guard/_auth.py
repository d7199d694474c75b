"""Authenticators the guard can run with when no other is given.

:class:`ApiTokenAuthenticator` accepts Bastion's own ``bst_`` API tokens
(``bastion.access.authenticate``) as an :class:`Authenticator`: the token's name becomes
the principal ``token:NAME`` with its role. The access room's identity side (Bastion JWTs,
federation, SPIFFE certificates) is preferred when it is installed (see
:func:`default_authenticator`).
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

__all__ = ["ApiTokenAuthenticator", "default_authenticator"]


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


def default_authenticator(ws: Workspace) -> Authenticator:
    """The access room's ``BastionAuthenticator`` when it is there, else bst_ tokens."""
    try:
        mod: Any = importlib.import_module("bastion.access.identity")
    except ImportError:
        return ApiTokenAuthenticator(ws)
    cls = getattr(mod, "BastionAuthenticator", None)
    if cls is None:
        return ApiTokenAuthenticator(ws)
    got = cls(ws)
    if not isinstance(got, Authenticator):
        return ApiTokenAuthenticator(ws)
    return got
