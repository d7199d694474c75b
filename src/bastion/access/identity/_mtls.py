"""Short-lived mTLS certificates from the workspace CA, their revocation list, rotation,
and the identity a client certificate proves.

There is one workspace PKI: the integrity room's root and intermediate CA (``bastion pki
init``). This module issues from its intermediate: an ECDSA P-256 key, a leaf valid for
hours, exactly one URI SAN (the service's SPIFFE ID, so the certificate is an X.509-SVID)
plus DNS SANs, keyUsage digitalSignature + keyEncipherment, EKU clientAuth + serverAuth.
Every certificate issued also lands in the PKI's ``issued/`` directory, so ``bastion pki
list`` shows it.

Revocation covers any certificate the intermediate issued: the serials are rows
(``access_cert_revocations``) and a CRL the intermediate signs is published as
``<pki>/crl.pem`` after every revocation (and by ``bastion pki crl``). Every
certificate -> identity derivation consults it; a missing, unsigned or stale CRL fails closed.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select

from bastion.access.identity._config import IdentityConfig, load_identity_config
from bastion.access.identity._rows import CertRevocationRow, MtlsCertRow
from bastion.access.identity._spiffe import parse_spiffe_id, spiffe_id_from_certificate
from bastion.access.interface import AuthMethod, CredentialError, Identity, IdentityKind
from bastion.core.errors import ConflictError, InputError, KeyringError, NotFoundError
from bastion.core.ledger import Event
from bastion.core.workspace import Workspace

__all__ = [
    "CRL_DAYS",
    "MAX_MTLS_HOURS",
    "MtlsCertificate",
    "MtlsVerifier",
    "RevocationReason",
    "identity_from_certificate",
    "issue_mtls_certificate",
    "list_mtls_certificates",
    "publish_crl",
    "revoke_certificate",
    "rotate_certificates",
]

MAX_MTLS_HOURS = 72
#: a published CRL is good for this long; revoking or ``bastion pki crl`` renews it
CRL_DAYS = 7
MAX_CERT_BYTES = 16 * 1024
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_DNS = re.compile(
    r"^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_SERIAL = re.compile(r"^(0x)?[0-9a-fA-F]{1,64}$")

RevocationReason = x509.ReasonFlags


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


@dataclass(frozen=True)
class _Ca:
    directory: Path
    root: x509.Certificate
    intermediate: x509.Certificate


def _ca(ws: Workspace) -> _Ca:
    """The workspace PKI (``bastion pki init``), through the integrity room's public face."""
    from bastion.integrity.signing import list_certificates, pki_init

    key_dir = ws.settings.key_dir
    list_certificates(key_dir)  # NotFoundError ("run 'bastion pki init' first") when absent
    d = pki_init(key_dir).directory  # exists: returns it, creates nothing
    try:
        root = x509.load_pem_x509_certificate((d / "root.pem").read_bytes())
        inter = x509.load_pem_x509_certificate((d / "intermediate.pem").read_bytes())
    except (OSError, ValueError):
        raise KeyringError(f"{d}: the CA certificates are missing or damaged") from None
    return _Ca(d, root, inter)


def _ca_key(ca: _Ca) -> ec.EllipticCurvePrivateKey:
    from bastion.integrity.signing import load_ca_key

    return load_ca_key(ca.directory)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _serial_hex(serial: str) -> str:
    if not _SERIAL.match(serial):
        raise InputError(f"serial {serial[:70]!r} is not hexadecimal")
    return serial.lower().removeprefix("0x").lstrip("0") or "0"


@dataclass(frozen=True)
class MtlsCertificate:
    serial: str
    service: str
    spiffe_id: str
    dns_names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    key_path: Path
    cert_path: Path
    ca_path: Path
    revoked: bool = False
    replaced_by: str | None = None

    @property
    def lifetime(self) -> timedelta:
        return self.not_after - self.not_before

    def due_for_rotation(self, now: datetime) -> bool:
        """Less than a third of its life is left (or it has expired)."""
        return self.not_after - now < self.lifetime / 3

    def to_dict(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "service": self.service,
            "spiffe_id": self.spiffe_id,
            "dns_names": list(self.dns_names),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "key": str(self.key_path),
            "certificate": str(self.cert_path),
            "trust_root": str(self.ca_path),
            "revoked": self.revoked,
            "replaced_by": self.replaced_by,
        }


def _files(out_dir: Path, service: str) -> tuple[Path, Path, Path]:
    return out_dir / f"{service}.key", out_dir / f"{service}.pem", out_dir / "ca.pem"


def _of_row(r: MtlsCertRow, revoked: bool) -> MtlsCertificate:
    key, cert, ca = _files(Path(r.out_dir), r.service)
    return MtlsCertificate(
        r.serial,
        r.service,
        r.spiffe_id,
        tuple(json.loads(r.dns_names)),
        _utc(r.not_before),
        _utc(r.not_after),
        key,
        cert,
        ca,
        revoked,
        r.replaced_by,
    )


def _build(
    ca: _Ca,
    ca_key: ec.EllipticCurvePrivateKey,
    service: str,
    spiffe_id: str,
    dns: Sequence[str],
    hours: float,
    now: datetime,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    from bastion.integrity.signing import sign_leaf

    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(spiffe_id)]
    sans += [x509.DNSName(d) for d in dns]
    cert = sign_leaf(
        ca.intermediate,
        ca_key,
        common_name=service,
        public_key=key.public_key(),
        sans=sans,
        hours=hours,
        ekus=[ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH],
        key_encipherment=True,
        subject_key_identifier=True,
        now=now,
    )
    return key, cert


def _write_files(
    ca: _Ca,
    out_dir: Path,
    service: str,
    key: ec.EllipticCurvePrivateKey,
    cert: x509.Certificate,
    *,
    replace: bool,
) -> tuple[Path, Path, Path]:
    key_path, cert_path, ca_path = _files(out_dir, service)
    out_dir.mkdir(parents=True, exist_ok=True)
    if key_path.exists() and not replace:
        raise ConflictError(f"{key_path} already exists; rotate it or choose another --out")
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write(key_path, pem_key, 0o600)
    _write(cert_path, _pem(cert) + _pem(ca.intermediate), 0o644)  # leaf, then its issuer
    _write(ca_path, _pem(ca.root), 0o644)
    (ca.directory / "issued").mkdir(exist_ok=True)
    _write(ca.directory / "issued" / f"{cert.serial_number:x}.pem", _pem(cert), 0o644)
    return key_path, cert_path, ca_path


def issue_mtls_certificate(
    ws: Workspace,
    service: str,
    *,
    out_dir: Path,
    dns_names: Sequence[str] = (),
    spiffe_id: str | None = None,
    hours: float = 24,
    config: IdentityConfig | None = None,
    actor: str = "system",
) -> MtlsCertificate:
    """Issue a short-lived mTLS certificate (an X.509-SVID) to ``service``."""
    config = config or load_identity_config(ws)
    if not _SERVICE.match(service):
        raise InputError("service must be 1-63 lower-case letters, digits or ._- ")
    if not 0 < hours <= MAX_MTLS_HOURS:
        raise InputError(f"hours must be in (0, {MAX_MTLS_HOURS}], got {hours}")
    dns = sorted({d.lower() for d in dns_names})
    for d in dns:
        if not _DNS.match(d):
            raise InputError(f"DNS name {d[:80]!r} is not a valid host name")
    if len(dns) > 20:
        raise InputError("at most 20 DNS names")
    sid = parse_spiffe_id(spiffe_id or f"spiffe://{config.trust_domain}/workload/{service}")
    if sid.trust_domain != config.trust_domain:
        raise InputError(
            f"SPIFFE ID {sid} is outside this CA's trust domain {config.trust_domain!r}"
        )
    ca = _ca(ws)
    ca_key = _ca_key(ca)
    now = datetime.now(UTC)
    key, cert = _build(ca, ca_key, service, str(sid), dns, hours, now)
    return _record(ws, ca, service, str(sid), dns, hours, out_dir, key, cert, actor, replace=False)


def _record(
    ws: Workspace,
    ca: _Ca,
    service: str,
    sid: str,
    dns: Sequence[str],
    hours: float,
    out_dir: Path,
    key: ec.EllipticCurvePrivateKey,
    cert: x509.Certificate,
    actor: str,
    *,
    replace: bool,
    replaces: str | None = None,
) -> MtlsCertificate:
    out_dir = out_dir.resolve()
    key_path, cert_path, ca_path = _write_files(ca, out_dir, service, key, cert, replace=replace)
    serial = format(cert.serial_number, "x")
    row = MtlsCertRow(
        serial=serial,
        service=service,
        spiffe_id=sid,
        dns_names=json.dumps(list(dns)),
        hours=hours,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        out_dir=str(out_dir),
        issued_at=datetime.now(UTC),
        replaced_by=None,
    )
    with ws.db.session() as s:
        s.add(row)
        if replaces is not None:
            old = s.get(MtlsCertRow, replaces)
            if old is not None:
                old.replaced_by = serial
        s.flush()
        ws.ledger.append(
            [
                Event(
                    "pki.mtls_rotated" if replaces else "pki.mtls_issued",
                    {
                        "serial": serial,
                        "service": service,
                        "spiffe_id": sid,
                        "dns_names": list(dns),
                        "not_before": row.not_before.isoformat(),
                        "not_after": row.not_after.isoformat(),
                        "sha256_fingerprint": cert.fingerprint(hashes.SHA256()).hex(),
                        **({"replaces": replaces} if replaces else {}),
                    },
                    actor,
                )
            ],
            session=s,
        )
    _ensure_crl(ws, ca)
    return MtlsCertificate(
        serial,
        service,
        sid,
        tuple(dns),
        row.not_before,
        row.not_after,
        key_path,
        cert_path,
        ca_path,
    )


def list_mtls_certificates(ws: Workspace) -> list[MtlsCertificate]:
    with ws.db.session() as s:
        revoked = set(s.scalars(select(CertRevocationRow.serial)))
        rows = s.scalars(select(MtlsCertRow).order_by(MtlsCertRow.issued_at))
        return [_of_row(r, r.serial in revoked) for r in rows]


def rotate_certificates(
    ws: Workspace,
    *,
    serial: str | None = None,
    force: bool = False,
    now: datetime | None = None,
    config: IdentityConfig | None = None,
    actor: str = "system",
) -> list[tuple[MtlsCertificate, MtlsCertificate]]:
    """Renew every current (not revoked, not replaced) certificate with less than a third
    of its life left at ``now`` (``force``: whatever is left), to the same files; the new
    certificates start from the real current time. Returns
    ``(old, new)`` pairs."""
    config = config or load_identity_config(ws)
    now = now or datetime.now(UTC)
    want = _serial_hex(serial) if serial else None
    current = [c for c in list_mtls_certificates(ws) if not c.revoked and c.replaced_by is None]
    if want is not None:
        current = [c for c in current if c.serial == want]
        if not current:
            raise NotFoundError(f"no current mTLS certificate with serial {want}")
    due = [c for c in current if force or c.due_for_rotation(now)]
    if not due:
        return []
    ca = _ca(ws)
    ca_key = _ca_key(ca)
    out: list[tuple[MtlsCertificate, MtlsCertificate]] = []
    for c in due:
        hours = c.lifetime.total_seconds() / 3600 - 1 / 60  # the 1-minute backdating
        hours = min(max(hours, 1 / 60), MAX_MTLS_HOURS)
        key, cert = _build(
            ca, ca_key, c.service, c.spiffe_id, c.dns_names, hours, datetime.now(UTC)
        )
        new = _record(
            ws,
            ca,
            c.service,
            c.spiffe_id,
            c.dns_names,
            hours,
            c.key_path.parent,
            key,
            cert,
            actor,
            replace=True,
            replaces=c.serial,
        )
        out.append((c, new))
    return out


def _issued_by_ca(ca: _Ca, serial: str) -> bool:
    return (ca.directory / "issued" / f"{serial}.pem").exists()


def revoke_certificate(
    ws: Workspace,
    serial: str,
    *,
    reason: RevocationReason | str = RevocationReason.unspecified,
    actor: str = "system",
) -> Path:
    """Revoke a certificate the workspace CA issued and publish the new CRL (its path)."""
    serial = _serial_hex(serial)
    try:
        flag = RevocationReason(reason)
    except ValueError:
        names = ", ".join(r.value for r in RevocationReason)
        raise InputError(f"revocation reason {reason!r}: one of {names}") from None
    ca = _ca(ws)
    with ws.db.session() as s:
        if s.get(MtlsCertRow, serial) is None and not _issued_by_ca(ca, serial):
            raise NotFoundError(f"no certificate with serial {serial} was issued by this CA")
    with ws.db.session() as s:
        if s.get(CertRevocationRow, serial) is not None:
            raise ConflictError(f"certificate {serial} is already revoked")
        s.add(
            CertRevocationRow(
                serial=serial,
                reason=flag.value,
                revoked_at=datetime.now(UTC),
                actor=actor[:200],
            )
        )
        s.flush()
        ws.ledger.append(
            [Event("pki.revoked", {"serial": serial, "reason": flag.value}, actor)], session=s
        )
    return publish_crl(ws, actor=actor, _ca_=ca)


def publish_crl(ws: Workspace, *, actor: str = "system", _ca_: _Ca | None = None) -> Path:
    """Sign a fresh CRL (every revoked serial, good for :data:`CRL_DAYS`) with the
    intermediate CA and write it to ``<pki>/crl.pem``."""
    ca = _ca_ or _ca(ws)
    key = _ca_key(ca)
    now = datetime.now(UTC)
    with ws.db.session() as s:
        rows = list(s.scalars(select(CertRevocationRow).order_by(CertRevocationRow.revoked_at)))
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.intermediate.subject)
        .last_update(now - timedelta(minutes=1))
        .next_update(now + timedelta(days=CRL_DAYS))
        .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
    )
    for r in rows:
        rc = (
            x509.RevokedCertificateBuilder()
            .serial_number(int(r.serial, 16))
            .revocation_date(_utc(r.revoked_at))
        )
        if r.reason != RevocationReason.unspecified.value:
            rc = rc.add_extension(x509.CRLReason(RevocationReason(r.reason)), critical=False)
        builder = builder.add_revoked_certificate(rc.build())
    crl = builder.sign(key, hashes.SHA384())
    path = ca.directory / "crl.pem"
    _write(path, crl.public_bytes(serialization.Encoding.PEM), 0o644)
    ws.ledger.append(
        [
            Event(
                "pki.crl_published",
                {"revoked": len(rows), "next_update": (now + timedelta(days=CRL_DAYS)).isoformat()},
                actor,
            )
        ]
    )
    return path


def _ensure_crl(ws: Workspace, ca: _Ca) -> None:
    if not (ca.directory / "crl.pem").exists():
        publish_crl(ws, _ca_=ca)


class MtlsVerifier:
    """Derives identities from client certificates; caches the CA and the CRL, re-reading
    the CRL whenever its file changes."""

    def __init__(self, ws: Workspace, *, config: IdentityConfig | None = None) -> None:
        self.ws = ws
        self.config = config or load_identity_config(ws)
        self._ca: _Ca | None = None
        self._crl: tuple[float, x509.CertificateRevocationList] | None = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[_Ca, x509.CertificateRevocationList]:
        with self._lock:
            if self._ca is None:
                try:
                    self._ca = _ca(self.ws)
                except (NotFoundError, KeyringError) as exc:
                    raise CredentialError(f"no workspace CA to verify against: {exc}") from None
            ca = self._ca
            path = ca.directory / "crl.pem"
            try:
                mtime = path.stat().st_mtime_ns
            except FileNotFoundError:
                raise CredentialError("no CRL is published; run 'bastion pki crl'") from None
            if self._crl is None or self._crl[0] != mtime:
                try:
                    crl = x509.load_pem_x509_crl(path.read_bytes())
                except ValueError:
                    raise CredentialError("the published CRL is damaged") from None
                if crl.issuer != ca.intermediate.subject or not crl.is_signature_valid(
                    ca.intermediate.public_key()  # type: ignore[arg-type]
                ):
                    raise CredentialError("the published CRL is not signed by the CA")
                self._crl = (mtime, crl)
            return ca, self._crl[1]

    def identity(
        self, der: bytes, chain: Sequence[bytes] = (), *, now: datetime | None = None
    ) -> Identity:
        now = now or datetime.now(UTC)
        if not der or len(der) > MAX_CERT_BYTES:
            raise CredentialError("client certificate is missing or too large")
        try:
            leaf = x509.load_der_x509_certificate(der)
        except ValueError:
            raise CredentialError("client certificate is not DER X.509") from None
        ca, crl = self._load()
        trusted = {
            ca.root.fingerprint(hashes.SHA256()),
            ca.intermediate.fingerprint(hashes.SHA256()),
        }
        for c in chain[:4]:
            try:
                fp = x509.load_der_x509_certificate(c).fingerprint(hashes.SHA256())
            except ValueError:
                raise CredentialError("client chain holds a certificate that is not DER") from None
            if fp not in trusted and c != der:
                raise CredentialError("client chain holds a certificate that is not this CA's")
        try:
            leaf.verify_directly_issued_by(ca.intermediate)
            ca.intermediate.verify_directly_issued_by(ca.root)
        except (ValueError, TypeError, InvalidSignature):
            raise CredentialError(
                "client certificate is not issued by this workspace's CA"
            ) from None
        for cert, what in ((leaf, "client certificate"), (ca.intermediate, "the intermediate CA")):
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                raise CredentialError(f"{what} is not valid now (expired or not yet valid)")
        try:
            if leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
                raise CredentialError("client certificate is a CA certificate")
            eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            raise CredentialError(
                "client certificate lacks basicConstraints, keyUsage or EKU"
            ) from None
        if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            raise CredentialError("client certificate lacks the clientAuth extended key usage")
        if not ku.digital_signature:
            raise CredentialError("client certificate's keyUsage lacks digitalSignature")
        if crl.next_update_utc is None or crl.next_update_utc < now:
            raise CredentialError("the published CRL is stale; run 'bastion pki crl'")
        if crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None:
            raise CredentialError(f"client certificate {leaf.serial_number:x} is revoked")
        sid = spiffe_id_from_certificate(leaf)
        if sid.trust_domain != self.config.trust_domain:
            raise CredentialError(
                f"SPIFFE ID {sid} is outside trust domain {self.config.trust_domain}"
            )
        cns = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        service = str(cns[0].value) if cns else ""
        if not _SERVICE.match(service):
            service = sid.path.rsplit("/", 1)[-1] or sid.trust_domain
        dns = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return Identity(
            id=f"workload:{service}",
            kind=IdentityKind.WORKLOAD,
            method=AuthMethod.MTLS,
            issuer=f"spiffe://{sid.trust_domain}",
            attributes={
                "trust_domain": sid.trust_domain,
                "dns_names": [str(d) for d in dns.get_values_for_type(x509.DNSName)],
            },
            spiffe_id=str(sid),
            expires_at=leaf.not_valid_after_utc,
            token_id=format(leaf.serial_number, "x"),
        )


def identity_from_certificate(
    ws: Workspace, der: bytes, chain: Sequence[bytes] = (), *, now: datetime | None = None
) -> Identity:
    """The identity a client certificate proves (chain to the workspace CA, validity, EKU
    clientAuth, the CRL, the SPIFFE ID), or :class:`CredentialError` naming the reason."""
    return MtlsVerifier(ws).identity(der, chain, now=now)
