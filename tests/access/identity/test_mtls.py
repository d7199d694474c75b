"""mTLS certificates from the workspace CA: issuance, identity, refusals, CRL, rotation,
and a real TLS handshake with the ssl module."""

from __future__ import annotations

import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bastion.access.identity import (
    IdentityConfig,
    identity_from_certificate,
    issue_mtls_certificate,
    list_mtls_certificates,
    publish_crl,
    revoke_certificate,
    rotate_certificates,
)
from bastion.access.interface import AuthMethod, CredentialError, IdentityKind
from bastion.core.errors import ConflictError, InputError, NotFoundError
from bastion.core.workspace import Workspace


def _leaf_der(pem_path: Path) -> bytes:
    cert = x509.load_pem_x509_certificates(pem_path.read_bytes())[0]
    return cert.public_bytes(serialization.Encoding.DER)


def _foreign(tmp: Path, spiffe: str = "spiffe://bastion.local/workload/scorer") -> Path:
    """A CA of its own and a client certificate from it that looks just like ours."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bastion intermediate CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scorer")]))
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=8))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe)]), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tmp / "foreign.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (tmp / "foreign.pem").write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    return tmp / "foreign.pem"


def test_issue_and_derive_identity(pki_ws: Workspace, tmp_path: Path) -> None:
    c = issue_mtls_certificate(
        pki_ws, "scorer", out_dir=tmp_path, dns_names=["scorer.internal", "localhost"], hours=8
    )
    assert c.key_path.stat().st_mode & 0o777 == 0o600
    leaf = x509.load_pem_x509_certificates(c.cert_path.read_bytes())[0]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku and ExtendedKeyUsageOID.SERVER_AUTH in eku
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(hours=8, minutes=1)
    ident = identity_from_certificate(pki_ws, _leaf_der(c.cert_path))
    assert ident.id == "workload:scorer" and ident.kind is IdentityKind.WORKLOAD
    assert ident.method is AuthMethod.MTLS
    assert ident.spiffe_id == "spiffe://bastion.local/workload/scorer"
    assert ident.attributes["dns_names"] == ["localhost", "scorer.internal"]
    assert ident.token_id == c.serial
    # the one PKI lists it, and the ledger has it
    assert (pki_ws.settings.key_dir / "pki" / "issued" / f"{c.serial}.pem").exists()
    assert pki_ws.ledger.entries(kind="pki.mtls_issued")[0].data["serial"] == c.serial
    with pytest.raises(ConflictError, match="already exists"):
        issue_mtls_certificate(pki_ws, "scorer", out_dir=tmp_path)


def test_issue_refuses_bad_input(pki_ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="hours"):
        issue_mtls_certificate(pki_ws, "scorer", out_dir=tmp_path, hours=100)
    with pytest.raises(InputError, match="trust domain"):
        issue_mtls_certificate(pki_ws, "scorer", out_dir=tmp_path, spiffe_id="spiffe://other.org/x")
    with pytest.raises(InputError, match="DNS"):
        issue_mtls_certificate(pki_ws, "scorer", out_dir=tmp_path, dns_names=["bad host"])


def test_needs_the_workspace_ca(sqlite_ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="pki init"):
        issue_mtls_certificate(sqlite_ws, "scorer", out_dir=tmp_path)


def test_refusals_name_the_reason(pki_ws: Workspace, tmp_path: Path) -> None:
    c = issue_mtls_certificate(pki_ws, "scorer", out_dir=tmp_path / "a", hours=2)
    der = _leaf_der(c.cert_path)
    with pytest.raises(CredentialError, match="not issued by this workspace's CA"):
        identity_from_certificate(pki_ws, _leaf_der(_foreign(tmp_path)))
    with pytest.raises(CredentialError, match="not valid now"):
        identity_from_certificate(pki_ws, der, now=datetime.now(UTC) + timedelta(hours=3))
    from bastion.access.identity import MtlsVerifier

    other_td = MtlsVerifier(pki_ws, config=IdentityConfig(trust_domain="other.org"))
    with pytest.raises(CredentialError, match="outside trust domain"):
        other_td.identity(der)
    # a codeSigning certificate from the same CA is not a client certificate
    from bastion.integrity.signing import issue_certificate

    signing = issue_certificate(
        pki_ws.settings.key_dir, "release@example.com", hours=1, out_dir=tmp_path / "s"
    )
    with pytest.raises(CredentialError, match="clientAuth"):
        identity_from_certificate(pki_ws, _leaf_der(signing.cert_path))
    with pytest.raises(CredentialError, match="not DER"):
        identity_from_certificate(pki_ws, b"garbage")
    with pytest.raises(CredentialError, match="not this CA's"):
        identity_from_certificate(pki_ws, der, [_leaf_der(_foreign(tmp_path))])


def test_revocation_is_consulted_every_time(pki_ws: Workspace, tmp_path: Path) -> None:
    from bastion.access.identity import MtlsVerifier

    v = MtlsVerifier(pki_ws)  # one long-lived verifier, as the guard holds
    c = issue_mtls_certificate(pki_ws, "scorer", out_dir=tmp_path)
    der = _leaf_der(c.cert_path)
    assert v.identity(der).id == "workload:scorer"
    crl_path = revoke_certificate(pki_ws, c.serial, reason="keyCompromise")
    crl = x509.load_pem_x509_crl(crl_path.read_bytes())
    entry = crl.get_revoked_certificate_by_serial_number(int(c.serial, 16))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )
    with pytest.raises(CredentialError, match="revoked"):
        v.identity(der)
    with pytest.raises(ConflictError, match="already revoked"):
        revoke_certificate(pki_ws, c.serial)
    with pytest.raises(NotFoundError):
        revoke_certificate(pki_ws, "abcdef")
    with pytest.raises(InputError, match="reason"):
        revoke_certificate(pki_ws, c.serial, reason="because")
    assert [x.revoked for x in list_mtls_certificates(pki_ws)] == [True]
    # no CRL, a forged CRL: fail closed
    crl_path.unlink()
    with pytest.raises(CredentialError, match="no CRL"):
        MtlsVerifier(pki_ws).identity(der)
    key = ec.generate_private_key(ec.SECP256R1())
    forged = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(crl.issuer)
        .last_update(datetime.now(UTC))
        .next_update(datetime.now(UTC) + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    crl_path.write_bytes(forged.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(CredentialError, match="not signed by the CA"):
        MtlsVerifier(pki_ws).identity(der)
    publish_crl(pki_ws)
    with pytest.raises(CredentialError, match="revoked"):
        MtlsVerifier(pki_ws).identity(der)


def test_rotation_when_a_third_of_life_is_left(pki_ws: Workspace, tmp_path: Path) -> None:
    c = issue_mtls_certificate(pki_ws, "scorer", out_dir=tmp_path, hours=9)
    assert rotate_certificates(pki_ws) == []  # plenty of life left
    later = c.not_before + (c.not_after - c.not_before) * 0.7
    ((old, new),) = rotate_certificates(pki_ws, now=later)
    assert old.serial == c.serial and new.serial != c.serial
    assert new.cert_path == c.cert_path and new.key_path == c.key_path  # renewed in place
    assert identity_from_certificate(pki_ws, _leaf_der(new.cert_path)).token_id == new.serial
    rows = {x.serial: x for x in list_mtls_certificates(pki_ws)}
    assert rows[c.serial].replaced_by == new.serial
    assert rotate_certificates(pki_ws) == []  # the renewed one is fresh
    ev = pki_ws.ledger.entries(kind="pki.mtls_rotated")
    assert ev[0].data["replaces"] == c.serial
    with pytest.raises(NotFoundError):
        rotate_certificates(pki_ws, serial=c.serial)  # replaced: no longer current


# -- a real handshake ------------------------------------------------------------------------


def _server_ctx(c_dir: Path, *, crl: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(c_dir / "guard.pem", c_dir / "guard.key")
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(c_dir / "ca.pem")
    if crl is not None:
        ctx.load_verify_locations(crl)
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return ctx


def _handshake(
    ws: Workspace, server: ssl.SSLContext, client_pem: Path, client_key: Path, ca: Path
) -> tuple[str, str]:
    """One TLS connection on loopback: (what the server derived, what the client read)."""
    lsock = socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]
    result: dict[str, str] = {}

    def serve() -> None:
        conn, _ = lsock.accept()
        try:
            with server.wrap_socket(conn, server_side=True) as tls:
                der = tls.getpeercert(binary_form=True)
                assert der is not None
                try:
                    result["server"] = identity_from_certificate(ws, der).id
                except CredentialError as exc:
                    result["server"] = f"refused: {exc.message}"
                tls.sendall(result["server"].encode())
        except ssl.SSLError as exc:
            result["server"] = f"tls: {exc.reason}"
        finally:
            lsock.close()

    t = threading.Thread(target=serve)
    t.start()
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.load_verify_locations(ca)
    cctx.load_cert_chain(client_pem, client_key)
    client = ""
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            cctx.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            client = tls.recv(200).decode()
    except (ssl.SSLError, OSError) as exc:
        client = f"client error: {type(exc).__name__}"
    t.join(5)
    return result.get("server", ""), client


def test_mtls_handshake(pki_ws: Workspace, tmp_path: Path) -> None:
    d = tmp_path / "certs"
    issue_mtls_certificate(pki_ws, "guard", out_dir=d, dns_names=["localhost"], hours=1)
    client = issue_mtls_certificate(pki_ws, "scorer", out_dir=d, hours=1)
    ca = d / "ca.pem"
    # a certificate from the workspace CA: the handshake completes, the identity is derived
    server, seen = _handshake(pki_ws, _server_ctx(d), client.cert_path, client.key_path, ca)
    assert server == seen == "workload:scorer"
    # another CA's certificate: the TLS layer refuses it
    foreign = _foreign(tmp_path)
    server, seen = _handshake(pki_ws, _server_ctx(d), foreign, tmp_path / "foreign.key", ca)
    assert server.startswith("tls: ") and "CERTIFICATE_VERIFY_FAILED" in server
    assert seen.startswith("client error")
    # a revoked certificate: refused at identity derivation (the CRL is consulted), and by
    # the TLS layer too when the server loads the published CRL
    crl = revoke_certificate(pki_ws, client.serial)
    server, _ = _handshake(pki_ws, _server_ctx(d), client.cert_path, client.key_path, ca)
    assert server == f"refused: client certificate {client.serial} is revoked"
    server, seen = _handshake(
        pki_ws, _server_ctx(d, crl=crl), client.cert_path, client.key_path, ca
    )
    assert server.startswith("tls: ") and seen.startswith("client error")
