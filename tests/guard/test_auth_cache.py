"""The guard verifies a JWT's signature once per token; revocation still holds at once."""

from __future__ import annotations

from bastion.access.identity import BastionAuthenticator, TokenService
from bastion.access.interface import CredentialError, RequestCredentials
from bastion.core.workspace import Workspace
from bastion.guard._auth import GuardAuthenticator


def _auth(ws: Workspace, **kw: object) -> tuple[GuardAuthenticator, TokenService]:
    inner = BastionAuthenticator(ws, audience="g")
    return GuardAuthenticator(ws, audience="g", identity=inner, **kw), inner.tokens  # type: ignore[arg-type]


def test_a_jwt_is_verified_once_and_revocation_still_holds(sqlite_ws: Workspace) -> None:
    import pytest

    auth, svc = _auth(sqlite_ws)
    tok = svc.issue("user:lena", audience="g", roles=["loan-officer"])
    creds = RequestCredentials(bearer=tok.token)
    first = auth.authenticate(creds)
    again = auth.authenticate(creds)
    assert again is first and auth.verified is not None and auth.verified.hits == 1
    other = svc.issue("user:lena", audience="g", roles=["loan-officer"])
    assert auth.authenticate(RequestCredentials(bearer=other.token)).token_id != first.token_id
    assert auth.verified.hits == 1  # another token: verified on its own
    assert first.token_id is not None
    svc.revoke(first.token_id, reason="test")
    with pytest.raises(CredentialError, match="revoked"):
        auth.authenticate(creds)  # cached, and still refused at once
    forged = tok.token[:-4] + ("AAAA" if not tok.token.endswith("AAAA") else "BBBB")
    with pytest.raises(CredentialError):
        auth.authenticate(RequestCredentials(bearer=forged))  # never a hit: another hash


def test_the_cache_is_bounded_and_can_be_off(sqlite_ws: Workspace) -> None:
    auth, svc = _auth(sqlite_ws, cache_entries=2)
    toks = [svc.issue(f"user:u{i}", audience="g").token for i in range(3)]
    for t in toks:
        auth.authenticate(RequestCredentials(bearer=t))
    assert auth.verified is not None and len(auth.verified.entries) == 2
    off, svc2 = _auth(sqlite_ws, cache_entries=0)
    t = svc2.issue("user:x", audience="g").token
    off.authenticate(RequestCredentials(bearer=t))
    off.authenticate(RequestCredentials(bearer=t))
    assert off.verified is None


def test_single_use_tokens_are_never_cached(sqlite_ws: Workspace) -> None:
    import pytest

    inner = BastionAuthenticator(sqlite_ws, audience="g", single_use=True)
    auth = GuardAuthenticator(sqlite_ws, audience="g", identity=inner)
    t = inner.tokens.issue("user:y", audience="g").token
    auth.authenticate(RequestCredentials(bearer=t))
    with pytest.raises(CredentialError):
        auth.authenticate(RequestCredentials(bearer=t))  # its jti was consumed
    assert auth.verified is not None and not auth.verified.entries
