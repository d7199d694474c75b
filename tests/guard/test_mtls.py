"""mTLS identity: a real TLS handshake under uvicorn with the guard's protocol, the verified
client certificate reaching the app as the ASGI TLS extension and RequestCredentials."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bastion.access.interface import (
    AuthMethod,
    CredentialError,
    Identity,
    IdentityKind,
    RequestCredentials,
)
from bastion.core.workspace import Workspace
from bastion.guard import TlsHttpProtocol, build_guard, load_guard_config
from tests.guard._support import RoleAuthorizer, Server, guard_yaml, upstream_app

BODY = {"features": {"income": 1500, "age": 30, "debt": 2}}


def _cert(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, Any] | None, *,
    ca: bool = False, san: str | None = None,
) -> x509.Certificate:  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    iname = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])]) if issuer else name
    b = (
        x509.CertificateBuilder().subject_name(name).issuer_name(iname)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )  # fmt: skip
    if san:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(san),
                            x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]),
                            critical=False)  # fmt: skip
    return b.sign(issuer[1] if issuer else key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    c, k = path.with_suffix(".pem"), path.with_suffix(".key")
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))  # fmt: skip
    return str(c), str(k)


class CertAuthenticator:
    """A real Authenticator over the verified leaf: signed by the test CA, CN -> workload."""

    def __init__(self, ca: x509.Certificate) -> None:
        self.ca = ca
        self.seen: list[bytes] = []

    def authenticate(self, credentials: RequestCredentials) -> Identity:
        if credentials.client_cert_der is None:
            raise CredentialError("no client certificate")
        self.seen.append(credentials.client_cert_der)
        leaf = x509.load_der_x509_certificate(credentials.client_cert_der)
        leaf.verify_directly_issued_by(self.ca)
        cn = str(leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
        return Identity(id=f"workload:{cn}", kind=IdentityKind.WORKLOAD, method=AuthMethod.MTLS,
                        roles=frozenset({"engineer"}), token_id=str(leaf.serial_number))  # fmt: skip


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Any]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test-ca", ca_key, None, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = _cert("other-ca", other_key, None, ca=True)
    out = {
        "ca": ca,
        "ca_pem": _write(tmp_path / "ca", ca, ca_key)[0],
        "server": _write(tmp_path / "server", _cert("localhost", server_key, ("test-ca", ca_key),
                                                     san="localhost"), server_key),
        "client": _write(tmp_path / "client", _cert("scorer", client_key, ("test-ca", ca_key)),
                         client_key),
        "stranger": _write(tmp_path / "stranger", _cert("scorer", client_key,
                                                        ("other-ca", other_key)), client_key),
    }  # fmt: skip
    _ = other_ca
    return out


@pytest.fixture
def mtls_guard(
    sqlite_ws: Workspace, tmp_path: Path, pki: dict[str, Any]
) -> Iterator[Callable[..., tuple[str, CertAuthenticator]]]:
    servers: list[Any] = []

    def make() -> tuple[str, CertAuthenticator]:
        up = Server(upstream_app).__enter__()
        servers.append(up)
        config, base = load_guard_config(guard_yaml(tmp_path, up.url))
        auth = CertAuthenticator(pki["ca"])
        guard = build_guard(sqlite_ws, config, base, authenticator=auth,
                            authorizer=RoleAuthorizer({"credit": {"engineer"}}),
                            verify_models=False)  # fmt: skip
        srv = Server(guard.proxy, http=TlsHttpProtocol, ssl_certfile=pki["server"][0],
                     ssl_keyfile=pki["server"][1], ssl_ca_certs=pki["ca_pem"],
                     ssl_cert_reqs=ssl.CERT_OPTIONAL).__enter__()  # fmt: skip
        servers.append(srv)
        return f"https://127.0.0.1:{srv.port}", auth

    yield make
    for s in reversed(servers):
        s.__exit__(None, None, None)


def _client(pki: dict[str, Any], cert: tuple[str, str] | None) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=pki["ca_pem"])
    if cert is not None:
        ctx.load_cert_chain(cert[0], cert[1])
    return httpx.Client(verify=ctx, timeout=10)


def test_verified_client_certificate_is_the_identity(
    mtls_guard: Callable[..., tuple[str, CertAuthenticator]], pki: dict[str, Any]
) -> None:
    url, auth = mtls_guard()
    with _client(pki, pki["client"]) as c:
        r = c.post(f"{url}/endpoints/credit", json=BODY)
    assert r.status_code == 200, r.text
    (der,) = auth.seen
    leaf = x509.load_pem_x509_certificate(Path(pki["client"][0]).read_bytes())
    assert der == leaf.public_bytes(serialization.Encoding.DER)  # the handshake's leaf
    with _client(pki, None) as c:  # no certificate, no token: anonymous, denied
        assert c.post(f"{url}/endpoints/credit", json=BODY).status_code == 403


def test_certificate_from_another_ca_fails_the_handshake(
    mtls_guard: Callable[..., tuple[str, CertAuthenticator]], pki: dict[str, Any]
) -> None:
    url, auth = mtls_guard()
    with _client(pki, pki["stranger"]) as c, pytest.raises(httpx.HTTPError):
        c.post(f"{url}/endpoints/credit", json=BODY)
    assert auth.seen == []
    with _client(pki, pki["client"]) as c:  # and the guard is still up
        assert c.post(f"{url}/endpoints/credit", json=BODY).status_code == 200
