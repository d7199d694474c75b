"""In-house PKI for model signing: a root and an intermediate CA, short-lived leaf certs.

Also the chain verification used for certificate signatures: the chain to a supplied
trust root, validity at a stated time, CA constraints, key usage and the codeSigning
EKU, revoked serials and CRLs, and the identities in the leaf's SAN.
"""

from __future__ import annotations

import os
import re
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

from bastion.core.errors import ConflictError, InputError, KeyringError, NotFoundError

__all__ = [
    "CertificateInfo",
    "IssuedCertificate",
    "PkiInfo",
    "cert_identities",
    "issue_certificate",
    "list_certificates",
    "load_ca_key",
    "load_certificates",
    "load_crl",
    "pki_dir",
    "pki_init",
    "sign_leaf",
    "verify_chain",
]

_DNS = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
MAX_HOURS = 24 * 30


def pki_dir(key_dir: Path) -> Path:
    return key_dir / "pki"


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class CertificateInfo:
    role: str
    subject: str
    serial: str
    not_before: datetime
    not_after: datetime
    identities: tuple[str, ...]
    fingerprint: str

    @classmethod
    def of(cls, role: str, c: x509.Certificate) -> CertificateInfo:
        return cls(
            role,
            c.subject.rfc4514_string(),
            format(c.serial_number, "x"),
            c.not_valid_before_utc,
            c.not_valid_after_utc,
            cert_identities(c),
            c.fingerprint(hashes.SHA256()).hex(),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "subject": self.subject,
            "serial": self.serial,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "identities": list(self.identities),
            "sha256_fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class PkiInfo:
    directory: Path
    root: CertificateInfo
    intermediate: CertificateInfo
    created: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "created": self.created,
            "root": self.root.to_dict(),
            "intermediate": self.intermediate.to_dict(),
            "trust_root": str(self.directory / "root.pem"),
        }


@dataclass(frozen=True)
class IssuedCertificate:
    info: CertificateInfo
    key_path: Path
    cert_path: Path
    chain_path: Path
    root_path: Path

    def to_dict(self) -> dict[str, Any]:
        return self.info.to_dict() | {
            "key": str(self.key_path),
            "certificate": str(self.cert_path),
            "chain": str(self.chain_path),
            "trust_root": str(self.root_path),
        }


def _ca_cert(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    signer: ec.EllipticCurvePrivateKey,
    days: int,
    path_len: int,
    now: datetime,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(signer, hashes.SHA384())
    )


def pki_init(
    key_dir: Path,
    *,
    organization: str = "Bastion",
    root_days: int = 3650,
    intermediate_days: int = 730,
) -> PkiInfo:
    """Create the root and intermediate CA once (keys 0600); never overwrite them."""
    d = pki_dir(key_dir)
    if (d / "root.pem").exists():
        root = _load_cert(d / "root.pem")
        inter = _load_cert(d / "intermediate.pem")
        return PkiInfo(
            d, CertificateInfo.of("root", root), CertificateInfo.of("intermediate", inter), False
        )
    now = datetime.now(UTC)
    root_key = ec.generate_private_key(ec.SECP384R1())
    inter_key = ec.generate_private_key(ec.SECP384R1())
    root_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organization} model signing root CA"),
        ]
    )
    inter_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(
                NameOID.COMMON_NAME, f"{organization} model signing intermediate CA"
            ),
        ]
    )
    root = _ca_cert(root_name, root_name, root_key, root_key, root_days, 1, now)
    inter = _ca_cert(inter_name, root_name, inter_key, root_key, intermediate_days, 0, now)
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    _write_private(d / "root.key", _pem_key(root_key))
    _write_private(d / "intermediate.key", _pem_key(inter_key))
    (d / "root.pem").write_bytes(_pem(root))
    (d / "intermediate.pem").write_bytes(_pem(inter))
    (d / "issued").mkdir(exist_ok=True)
    return PkiInfo(
        d, CertificateInfo.of("root", root), CertificateInfo.of("intermediate", inter), True
    )


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise NotFoundError(f"{path}: not found; run 'bastion pki init' first") from None
    except ValueError:
        raise InputError(f"{path}: not a PEM certificate") from None


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM (or single DER) file."""
    try:
        data = path.read_bytes()
    except OSError:
        raise InputError(f"{path}: certificate file not found or unreadable") from None
    try:
        if b"-----BEGIN" in data:
            return list(x509.load_pem_x509_certificates(data))
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise InputError(f"{path}: not a PEM or DER certificate") from None


def _san(identity: str) -> x509.GeneralName:
    if "@" in identity and " " not in identity:
        return x509.RFC822Name(identity)
    if re.match(r"^[a-z][a-z0-9+.-]*:", identity):
        return x509.UniformResourceIdentifier(identity)
    if _DNS.match(identity):
        return x509.DNSName(identity)
    raise InputError(
        f"identity {identity!r}: use an e-mail address, a URI (e.g. "
        "https://ci.example.com/release) or a DNS-style name"
    )


def cert_identities(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    out: list[str] = []
    for kind in (x509.RFC822Name, x509.UniformResourceIdentifier, x509.DNSName):
        out.extend(str(v) for v in san.get_values_for_type(kind))
    return tuple(out)


def load_ca_key(directory: Path) -> ec.EllipticCurvePrivateKey:
    """The intermediate CA's private key of the PKI in ``directory``; refused when the file
    is readable by group or others, missing or not an EC key."""
    path = directory / "intermediate.key"
    try:
        if path.stat().st_mode & 0o077:
            raise KeyringError(f"{path} is accessible by group or others; run 'chmod 600' on it")
        key = serialization.load_pem_private_key(path.read_bytes(), None)
    except FileNotFoundError:
        raise KeyringError(f"{path}: the intermediate CA key is missing") from None
    except (ValueError, TypeError):
        raise KeyringError(f"{path}: cannot load the intermediate CA key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyringError(f"{path}: not an EC key")
    return key


def sign_leaf(
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    common_name: str,
    public_key: ec.EllipticCurvePublicKey,
    sans: Sequence[x509.GeneralName],
    hours: float,
    ekus: Sequence[x509.ObjectIdentifier],
    key_encipherment: bool = False,
    subject_key_identifier: bool = False,
    now: datetime | None = None,
) -> x509.Certificate:
    """A short-lived end-entity certificate from this PKI's intermediate: not a CA, the
    key usages and extended key usages asked for, the SANs critical (SPIFFE wants them so
    when the subject is empty; here always), the issuer's key identifier. The one leaf
    builder: code-signing certificates here, mTLS SVIDs in the access room."""
    at = now or datetime.now(UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(at - timedelta(minutes=1))
        .not_valid_after(at + timedelta(hours=hours))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=key_encipherment,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
        .add_extension(x509.SubjectAlternativeName(list(sans)), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if subject_key_identifier:
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    return b.sign(issuer_key, hashes.SHA384())


def issue_certificate(
    key_dir: Path,
    identity: str,
    *,
    hours: float = 8,
    out_dir: Path,
    curve: str = "P-256",
) -> IssuedCertificate:
    """Issue a short-lived codeSigning certificate to ``identity``, its key written 0600."""
    if not 0 < hours <= MAX_HOURS:
        raise InputError(f"--hours must be in (0, {MAX_HOURS}], got {hours}")
    d = pki_dir(key_dir)
    inter = _load_cert(d / "intermediate.pem")
    root = _load_cert(d / "root.pem")
    ikey = load_ca_key(d)
    curves: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}
    if curve not in curves:
        raise InputError(f"curve {curve!r}: expected P-256 or P-384")
    key = ec.generate_private_key(curves[curve])
    now = datetime.now(UTC)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", identity)[:80]
    cert = sign_leaf(
        inter,
        ikey,
        common_name=identity[:64],
        public_key=key.public_key(),
        sans=[_san(identity)],
        hours=hours,
        ekus=[ExtendedKeyUsageOID.CODE_SIGNING],
        now=now,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    key_path = out_dir / f"{safe}.key"
    if key_path.exists():
        raise ConflictError(f"{key_path} already exists; choose another --out directory")
    _write_private(key_path, _pem_key(key))
    cert_path = out_dir / f"{safe}.pem"
    cert_path.write_bytes(_pem(cert))
    chain_path = out_dir / f"{safe}.chain.pem"
    chain_path.write_bytes(_pem(inter) + _pem(root))
    root_path = out_dir / "root.pem"
    root_path.write_bytes(_pem(root))
    info = CertificateInfo.of("leaf", cert)
    (d / "issued").mkdir(exist_ok=True)
    (d / "issued" / f"{info.serial}.pem").write_bytes(_pem(cert))
    return IssuedCertificate(info, key_path, cert_path, chain_path, root_path)


def list_certificates(key_dir: Path) -> list[CertificateInfo]:
    d = pki_dir(key_dir)
    out = [CertificateInfo.of("root", _load_cert(d / "root.pem"))]
    out.append(CertificateInfo.of("intermediate", _load_cert(d / "intermediate.pem")))
    issued = d / "issued"
    if issued.is_dir():
        leaves = [CertificateInfo.of("leaf", _load_cert(p)) for p in issued.glob("*.pem")]
        out.extend(sorted(leaves, key=lambda c: c.not_before))
    return out


@dataclass(frozen=True)
class ChainResult:
    ok: bool
    problems: tuple[str, ...]
    identities: tuple[str, ...]
    root: x509.Certificate | None
    checked_at: datetime


def _is_ca(c: x509.Certificate) -> tuple[bool, int | None]:
    try:
        bc = c.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False, None
    return bc.ca, bc.path_length


def _signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def verify_chain(
    chain: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    *,
    at: datetime,
    revoked_serials: Sequence[str] = (),
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> ChainResult:
    """Build leaf → ... → trusted root from the bundle's chain and check every link."""
    problems: list[str] = []
    leaf = chain[0]
    path = [leaf]
    pool = list(chain[1:])
    root: x509.Certificate | None = None
    root_fps = {r.fingerprint(hashes.SHA256()) for r in roots}
    for _ in range(8):
        cur = path[-1]
        if cur.fingerprint(hashes.SHA256()) in root_fps:
            root = cur
            break
        anchor = next((r for r in roots if r.subject == cur.issuer and _signed_by(cur, r)), None)
        if anchor is not None:
            path.append(anchor)
            root = anchor
            break
        nxt = next((c for c in pool if c.subject == cur.issuer and _signed_by(cur, c)), None)
        if nxt is None:
            break
        pool.remove(nxt)
        path.append(nxt)
    if root is None:
        problems.append(
            f"certificate '{leaf.subject.rfc4514_string()}' does not chain to a trusted root"
        )
    revoked = {s.lower().removeprefix("0x").lstrip("0") for s in revoked_serials}
    for i, c in enumerate(path):
        name = c.subject.rfc4514_string()
        if not c.not_valid_before_utc <= at <= c.not_valid_after_utc:
            problems.append(
                f"certificate '{name}' is not valid at {at.isoformat(timespec='seconds')} "
                f"(valid {c.not_valid_before_utc.isoformat()} to {c.not_valid_after_utc.isoformat()})"
            )
        if format(c.serial_number, "x") in revoked:
            problems.append(f"certificate '{name}' (serial {c.serial_number:x}) is revoked")
        for crl in crls:
            if crl.issuer == c.issuer and crl.get_revoked_certificate_by_serial_number(
                c.serial_number
            ):
                problems.append(  # noqa: PERF401
                    f"certificate '{name}' (serial {c.serial_number:x}) is revoked by a CRL"
                )
        if i > 0:
            ca, plen = _is_ca(c)
            if not ca:
                problems.append(f"issuer '{name}' is not a CA (basicConstraints)")
            elif plen is not None and i - 1 > plen:
                problems.append(f"issuer '{name}' path length constraint exceeded")
            try:
                ku = c.extensions.get_extension_for_class(x509.KeyUsage).value
                if not ku.key_cert_sign:
                    problems.append(f"issuer '{name}' may not sign certificates (keyUsage)")
            except x509.ExtensionNotFound:
                pass
    for crl in crls:
        issuer = next((c for c in path if c.subject == crl.issuer), None)
        if issuer is None or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            problems.append("a CRL is not signed by a CA of this chain; refusing it")
    ca, _ = _is_ca(leaf)
    if ca:
        problems.append("the signing certificate is a CA certificate")
    usable = False
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        usable = ku.digital_signature
    except x509.ExtensionNotFound:
        pass
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
            problems.append("the signing certificate lacks the codeSigning extended key usage")
    except x509.ExtensionNotFound:
        if not usable:
            problems.append(
                "the signing certificate allows neither digitalSignature nor codeSigning"
            )
    if not usable:
        try:
            leaf.extensions.get_extension_for_class(x509.KeyUsage)
            problems.append("the signing certificate's keyUsage lacks digitalSignature")
        except x509.ExtensionNotFound:
            pass
    return ChainResult(not problems, tuple(problems), cert_identities(leaf), root, at)


def load_crl(path: Path) -> x509.CertificateRevocationList:
    data = path.read_bytes()
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError:
        raise InputError(f"{path}: not a PEM or DER CRL") from None
