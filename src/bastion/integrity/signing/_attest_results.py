"""Scan verdicts and AI-BOMs as signed in-toto attestations over the model's manifest
digest: the same digest its signature, its provenance and its registry version name."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from bastion.core.errors import InputError
from bastion.integrity._hashing import root_digest
from bastion.integrity.interface import ScanReport
from bastion.integrity.signing._bundle import Bundle, key_hint
from bastion.integrity.signing._pki import load_certificates
from bastion.integrity.signing._provenance import attest
from bastion.integrity.signing._sign import SigningKey, signed_manifest

__all__ = [
    "CYCLONEDX_BOM_PREDICATE",
    "SCAN_VERDICT_PREDICATE",
    "AttestationSummary",
    "attest_bom",
    "attest_scan",
    "attest_scan_upload",
    "certificate_chain",
    "scan_predicate",
    "workspace_attestation_key",
]


@dataclass(frozen=True)
class AttestationSummary:
    """What an attestation of a result signed: its file (None when it travels only as a
    bundle), predicate type, subject, key, and the attested verdict or BOM serial."""

    attestation: str | None
    predicate_type: str
    subject_name: str
    subject_digest: str  # "sha256:<hex>"
    key: str
    key_hint: str | None = None
    verdict: str | None = None
    bom_serial: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the CLI and API print and ``integrity.provenance`` evidence stores."""
        out: dict[str, Any] = {
            "attestation": self.attestation,
            "predicate_type": self.predicate_type,
            "subject": {"name": self.subject_name, "digest": self.subject_digest},
            "key": self.key,
        }
        if self.key_hint is not None:
            out["key_hint"] = self.key_hint
        if self.verdict is not None:
            out["verdict"] = self.verdict
        if self.bom_serial is not None:
            out["bom_serial"] = self.bom_serial
        return out


SCAN_VERDICT_PREDICATE = "https://bastion.dev/attestations/model-scan/v1"
CYCLONEDX_BOM_PREDICATE = "https://cyclonedx.org/bom"
MAX_ATTESTED_FINDINGS = 1000


def certificate_chain(
    certificate: Path | None, chain: Sequence[Path] = ()
) -> list[x509.Certificate]:
    """The leaf and intermediates to put in a bundle (the root stays out, as in signing)."""
    if certificate is None:
        if chain:
            raise InputError("--chain needs --certificate (the signing certificate)")
        return []
    certs = load_certificates(certificate)[:1]
    for p in chain:
        certs.extend(load_certificates(p))
    return [certs[0], *(c for c in certs[1:] if c.subject != c.issuer)]


def scan_predicate(report: ScanReport) -> dict[str, Any]:
    """What the scanner concluded, per file and per finding (capped), and when."""
    from importlib import metadata

    try:
        version = metadata.version("bastion")
    except metadata.PackageNotFoundError:
        version = "0"
    doc = report.to_dict()
    findings = [f.to_dict() for f in report.findings]
    return {
        "scanner": {"name": "bastion-model-scan", "version": version},
        "scannedOn": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": Path(report.target).name or report.target,
        "verdict": report.verdict.value,
        "counts": doc["counts"],
        "bytesScanned": report.bytes_scanned,
        "files": [
            {"path": r.path, "format": r.format, "verdict": r.verdict.value}
            for r in report.files[:MAX_ATTESTED_FINDINGS]
        ],
        "findings": findings[:MAX_ATTESTED_FINDINGS],
        "findingsTruncated": len(findings) > MAX_ATTESTED_FINDINGS,
    }


ATTEST_KEY_FILE = "integrity-attest-p256.pem"


def workspace_attestation_key(key_dir: Path) -> SigningKey:
    """The server's own ECDSA P-256 attestation key (created on first use, mode 0600), for
    attestations the API signs; its public half is served so clients can verify."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from bastion.integrity.signing._sign import load_signing_key

    path = key_dir / ATTEST_KEY_FILE
    if not path.exists():
        key_dir.mkdir(parents=True, exist_ok=True)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # created concurrently: use that one
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
    return load_signing_key(path)


def attest_scan_upload(
    report: ScanReport, data: bytes, name: str, key: SigningKey
) -> tuple[Bundle, AttestationSummary]:
    """Attest the scan of an uploaded one-file model over its model-signing digest (the
    root digest of a one-file manifest, what ``signed_manifest`` gives for that file)."""
    digest = root_digest([hashlib.sha256(data).hexdigest()])
    bundle = attest(SCAN_VERDICT_PREDICATE, scan_predicate(report), {name: digest}, key)
    summary = AttestationSummary(
        attestation=None,
        predicate_type=SCAN_VERDICT_PREDICATE,
        subject_name=name,
        subject_digest=f"sha256:{digest}",
        key=key.description,
        key_hint=key_hint(key.public_key()),
        verdict=report.verdict.value,
    )
    return bundle, summary


def _default_path(model: Path, kind: str) -> Path:
    # Next to the model, never inside it: an attestation must not change what it attests.
    return model.parent / f"{model.name}.{kind}.sigstore.json"


def _write(model: Path, predicate_type: str, predicate: dict[str, Any], key: SigningKey,
           chain: Sequence[x509.Certificate], out: Path | None, kind: str,
           **result: str | None) -> AttestationSummary:  # fmt: skip
    manifest = signed_manifest(model)
    path = out or _default_path(model, kind)
    attest(predicate_type, predicate, {manifest.model_name: manifest.digest}, key,
           chain=chain, out=path)  # fmt: skip
    return AttestationSummary(
        attestation=str(path),
        predicate_type=predicate_type,
        subject_name=manifest.model_name,
        subject_digest=f"sha256:{manifest.digest}",
        key=key.description,
        **result,
    )


def attest_scan(
    model: Path,
    report: ScanReport,
    key: SigningKey,
    *,
    chain: Sequence[x509.Certificate] = (),
    out: Path | None = None,
) -> AttestationSummary:
    """Sign the scan verdict of ``model`` over its manifest digest; returns a summary."""
    if Path(report.target).resolve() != model.resolve():
        raise InputError(f"the scan report is of {report.target}, not of {model}")
    return _write(model, SCAN_VERDICT_PREDICATE, scan_predicate(report), key, chain, out, "scan",
                  verdict=report.verdict.value)  # fmt: skip


def attest_bom(
    model: Path,
    document: str,
    key: SigningKey,
    *,
    chain: Sequence[x509.Certificate] = (),
    out: Path | None = None,
) -> AttestationSummary:
    """Sign a CycloneDX AI-BOM of ``model`` over its manifest digest; the BOM's own
    ``bastion:manifest-sha256`` must be that digest (a BOM of other files is refused)."""
    try:
        bom = json.loads(document)
        props = {p["name"]: p["value"] for p in bom["metadata"]["component"].get("properties", [])}
    except (ValueError, KeyError, TypeError):
        raise InputError("the AI-BOM is not a CycloneDX JSON document with a model") from None
    digest = signed_manifest(model).digest
    if props.get("bastion:manifest-sha256") != digest:
        raise InputError(
            f"the AI-BOM describes manifest {props.get('bastion:manifest-sha256')}, "
            f"but {model} is now sha256:{digest}: rebuild the BOM"
        )
    serial = bom.get("serialNumber")
    return _write(model, CYCLONEDX_BOM_PREDICATE, bom, key, chain, out, "bom",
                  bom_serial=str(serial) if serial is not None else None)  # fmt: skip
