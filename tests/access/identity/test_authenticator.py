"""BastionAuthenticator: the client certificate first, then a bearer token."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bastion.access.identity import BastionAuthenticator, MemoryJtiStore, issue_mtls_certificate
from bastion.access.interface import (
    Authenticator,
    AuthMethod,
    CredentialError,
    RequestCredentials,
)
from bastion.core.workspace import Workspace


def _der(path: Path) -> bytes:
    return x509.load_pem_x509_certificates(path.read_bytes())[0].public_bytes(
        serialization.Encoding.DER
    )


def test_is_the_interface_and_prefers_the_certificate(pki_ws: Workspace, tmp_path: Path) -> None:
    auth = BastionAuthenticator(pki_ws, audience="scorer", store=MemoryJtiStore())
    assert isinstance(auth, Authenticator)
    c = issue_mtls_certificate(pki_ws, "batch", out_dir=tmp_path)
    bearer = auth.tokens.issue("user:alice", audience="scorer").token
    both = RequestCredentials(bearer=bearer, client_cert_der=_der(c.cert_path))
    ident = auth.authenticate(both)
    assert ident.method is AuthMethod.MTLS and ident.id == "workload:batch"
    assert auth.authenticate(RequestCredentials(bearer=bearer)).id == "user:alice"


def test_a_bad_certificate_is_not_rescued_by_a_good_token(
    pki_ws: Workspace, tmp_path: Path
) -> None:
    auth = BastionAuthenticator(pki_ws, audience="scorer", store=MemoryJtiStore())
    bearer = auth.tokens.issue("user:alice", audience="scorer").token
    with pytest.raises(CredentialError, match="not DER"):
        auth.authenticate(RequestCredentials(bearer=bearer, client_cert_der=b"junk"))


def test_single_use_and_audience(pki_ws: Workspace) -> None:
    auth = BastionAuthenticator(pki_ws, audience="scorer", store=MemoryJtiStore(), single_use=True)
    t = auth.tokens.issue("workload:a", audience="scorer").token
    assert auth.authenticate(RequestCredentials(bearer=t)).id == "workload:a"
    with pytest.raises(CredentialError, match="replay"):
        auth.authenticate(RequestCredentials(bearer=t))
    other = auth.tokens.issue("workload:a", audience="elsewhere").token
    with pytest.raises(CredentialError, match="another audience"):
        auth.authenticate(RequestCredentials(bearer=other))
