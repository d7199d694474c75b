"""Public names of the integrity room's signing part: hashing, signatures, PKI, provenance.

The ``record_*`` functions are what the CLI and API call: they do the operation and
record it as evidence through a registered check, so it lands in the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bastion.core.checks import run_check
from bastion.core.errors import BastionError
from bastion.core.evidence import EvidenceQuery
from bastion.core.ledger import Event
from bastion.core.types import Evidence, Subject
from bastion.core.workspace import Workspace
from bastion.integrity._hashing import HashAlgorithm, ManifestEntry, ModelManifest, hash_model
from bastion.integrity.interface import ScanReport
from bastion.integrity.signing._attest_results import (
    CYCLONEDX_BOM_PREDICATE,
    SCAN_VERDICT_PREDICATE,
    AttestationSummary,
    attest_bom,
    attest_scan,
    attest_scan_upload,
    certificate_chain,
    workspace_attestation_key,
)
from bastion.integrity.signing._checks import (
    ModelAttestationCheck,
    ModelSignatureCheck,
    ModelSignCheck,
)
from bastion.integrity.signing._pki import (
    CertificateInfo,
    IssuedCertificate,
    PkiInfo,
    issue_certificate,
    list_certificates,
    load_ca_key,
    pki_init,
    sign_leaf,
)
from bastion.integrity.signing._policy import TimeMode, VerificationPolicy, load_policy
from bastion.integrity.signing._provenance import (
    SLSA_PROVENANCE_V1,
    AttestationCheck,
    attest,
    default_attestation_path,
    environment_packages,
    file_digest,
    git_commit,
    slsa_training_predicate,
    training_summary,
    verify_attestation,
)
from bastion.integrity.signing._sign import (
    MODEL_SIGNATURE_PREDICATE,
    SigningKey,
    SignResult,
    VerifiedSignature,
    VerifyResult,
    load_public_key,
    load_signing_key,
    sign_model,
    signed_manifest,
    verify_model,
)
from bastion.integrity.signing._training import TrainingRun

__all__ = [
    "CYCLONEDX_BOM_PREDICATE",
    "MODEL_SIGNATURE_PREDICATE",
    "SCAN_VERDICT_PREDICATE",
    "SIGNING_CHECKS",
    "SLSA_PROVENANCE_V1",
    "AttestationCheck",
    "CertificateInfo",
    "HashAlgorithm",
    "IssuedCertificate",
    "ManifestEntry",
    "ModelManifest",
    "PkiInfo",
    "SignResult",
    "SigningKey",
    "TimeMode",
    "TrainingRun",
    "VerificationPolicy",
    "VerifiedSignature",
    "VerifyResult",
    "attest",
    "attestation_public_key",
    "hash_model",
    "issue_certificate",
    "list_certificates",
    "load_ca_key",
    "load_policy",
    "load_public_key",
    "load_signing_key",
    "pki_init",
    "record_attest_bom",
    "record_attest_scan",
    "record_attest_scan_upload",
    "record_attest_training",
    "record_attestation_check",
    "record_pki_init",
    "record_pki_issue",
    "record_sign",
    "record_verify",
    "sign_leaf",
    "sign_model",
    "signed_manifest",
    "signing_evidence",
    "slsa_training_predicate",
    "verify_attestation",
    "verify_model",
]

SIGNING_CHECKS = ("integrity.sign", "integrity.signature", "integrity.provenance")


def _subject(model: Path, name: str | None, digest: str | None) -> Subject:
    return Subject("model", name or str(model), f"sha256:{digest}" if digest else None)


def record_sign(
    ws: Workspace,
    model: Path,
    key: str | Path,
    *,
    name: str | None = None,
    password: str | None = None,
    actor: str = "system",
    progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> tuple[SignResult, Evidence]:
    """Sign ``model`` (options as for :func:`sign_model`) and record ``integrity.sign``."""
    res = sign_model(model, load_signing_key(key, password), progress=progress, **options)
    ev = run_check(
        ws,
        ModelSignCheck,
        _subject(model, name, res.manifest.digest),
        actor=actor,
        params={"result": res},
    )
    return res, ev


def record_verify(
    ws: Workspace,
    model: Path,
    signatures: Sequence[Path] = (),
    *,
    name: str | None = None,
    policy: Path | VerificationPolicy | None = None,
    actor: str = "system",
    progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> tuple[VerifyResult | None, Evidence]:
    """Verify ``model`` and record ``integrity.signature``; bad input is recorded as error."""
    try:
        pol = load_policy(policy) if isinstance(policy, Path) else policy
        res: VerifyResult | None = verify_model(
            model, signatures, policy=pol, progress=progress, **options
        )
    except BastionError as exc:
        ev = run_check(
            ws,
            ModelSignatureCheck,
            _subject(model, name, None),
            actor=actor,
            params={"result": _Raise(exc)},
        )
        return None, ev
    assert res is not None
    ev = run_check(
        ws,
        ModelSignatureCheck,
        _subject(model, name, res.manifest_digest),
        actor=actor,
        params={"result": res},
    )
    return res, ev


class _Raise:
    """Makes the check raise the original error, so evidence records it as ``error``."""

    def __init__(self, exc: BastionError) -> None:
        self.exc = exc


def record_attest_training(
    ws: Workspace,
    model: Path,
    key: str | Path,
    *,
    builder_id: str,
    data: Sequence[Path] = (),
    hyperparameters: Mapping[str, Any] | None = None,
    code_dir: Path | None = None,
    code_commit: str | None = None,
    entry_point: str | None = None,
    out: Path | None = None,
    include_packages: bool = True,
    name: str | None = None,
    password: str | None = None,
    certificate: Path | None = None,
    chain: Sequence[Path] = (),
    actor: str = "system",
) -> tuple[dict[str, Any], Evidence]:
    """Sign SLSA provenance v1 for a finished training run and record ``integrity.provenance``.

    With ``certificate`` (and its ``chain``), the bundle carries the signer's certificate,
    so it verifies against a trust root and an identity instead of a public key.
    """
    signing_key = load_signing_key(key, password)
    certs = certificate_chain(certificate, chain)
    manifest = signed_manifest(model)
    code = code_dir or Path.cwd()
    predicate = slsa_training_predicate(
        builder_id=builder_id,
        entry_point=entry_point,
        code_repo=str(code.resolve()),
        code_commit=code_commit or git_commit(code),
        training_data={p.name: file_digest(p) for p in data},
        hyperparameters=hyperparameters,
        packages=environment_packages() if include_packages else (),
    )
    path = out or default_attestation_path(model)
    attest(
        SLSA_PROVENANCE_V1,
        predicate,
        {manifest.model_name: manifest.digest},
        signing_key,
        chain=certs,
        out=path,
    )
    summary = training_summary(path, predicate, manifest, signing_key)
    ev = run_check(
        ws,
        ModelAttestationCheck,
        _subject(model, name, manifest.digest),
        actor=actor,
        params={"result": summary},
    )
    return summary, ev


def _record_summary(
    ws: Workspace,
    model: Path,
    name: str | None,
    summary: AttestationSummary,
    actor: str,
    bundle: bytes | None = None,
) -> Evidence:
    digest = summary.subject_digest.removeprefix("sha256:")
    if bundle is None and summary.attestation:
        bundle = Path(summary.attestation).read_bytes()
    return run_check(
        ws,
        ModelAttestationCheck,
        _subject(model, name, digest),
        actor=actor,
        params={"result": summary.to_dict(), "bundle": bundle},
    )


def attestation_public_key(ws: Workspace) -> str:
    """PEM of the workspace's attestation key (what API-signed attestations verify with)."""
    from cryptography.hazmat.primitives import serialization

    key = workspace_attestation_key(ws.settings.key_dir)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def record_attest_scan_upload(
    ws: Workspace, report: ScanReport, data: bytes, name: str, *, actor: str = "system"
) -> tuple[AttestationSummary, dict[str, Any], Evidence]:
    """Attest the scan of uploaded bytes with the workspace attestation key; returns the
    summary, the Sigstore bundle (JSON) and the ``integrity.provenance`` evidence."""
    key = workspace_attestation_key(ws.settings.key_dir)
    bundle, summary = attest_scan_upload(report, data, name, key)
    ev = _record_summary(
        ws, Path(name), name, summary, actor, bundle=bundle.dumps().encode("utf-8")
    )
    return summary, bundle.to_json(), ev


def record_attest_scan(
    ws: Workspace,
    report: ScanReport,
    key: str | Path,
    *,
    name: str | None = None,
    out: Path | None = None,
    certificate: Path | None = None,
    chain: Sequence[Path] = (),
    password: str | None = None,
    actor: str = "system",
) -> tuple[AttestationSummary, Evidence]:
    """Sign a finished scan's verdict as an in-toto attestation over the scanned model's
    manifest digest (written next to the model) and record ``integrity.provenance``."""
    model = Path(report.target)
    summary = attest_scan(
        model,
        report,
        load_signing_key(key, password),
        chain=certificate_chain(certificate, chain),
        out=out,
    )
    return summary, _record_summary(ws, model, name, summary, actor)


def record_attest_bom(
    ws: Workspace,
    model_dir: Path,
    document: str,
    key: str | Path,
    *,
    name: str | None = None,
    out: Path | None = None,
    certificate: Path | None = None,
    chain: Sequence[Path] = (),
    password: str | None = None,
    actor: str = "system",
) -> tuple[AttestationSummary, Evidence]:
    """Sign a model's CycloneDX AI-BOM as an in-toto attestation over its manifest digest
    (the digest the BOM itself names) and record ``integrity.provenance``."""
    summary = attest_bom(
        model_dir,
        document,
        load_signing_key(key, password),
        chain=certificate_chain(certificate, chain),
        out=out,
    )
    return summary, _record_summary(ws, model_dir, name, summary, actor)


def record_attestation_check(
    ws: Workspace,
    attestation: Path,
    *,
    model: Path | None = None,
    name: str | None = None,
    actor: str = "system",
    **options: Any,
) -> tuple[AttestationCheck, Evidence]:
    """Verify an attestation (against ``model``'s current digest when given) and record it."""
    digest = signed_manifest(model).digest if model is not None else None
    res = verify_attestation(attestation, expected_digest=digest, **options)
    ref = name or (str(model) if model is not None else next(iter(res.subjects), str(attestation)))
    ev = run_check(
        ws,
        ModelAttestationCheck,
        Subject("model", ref, f"sha256:{digest}" if digest else None),
        actor=actor,
        params={"result": res},
    )
    return res, ev


def record_pki_init(
    ws: Workspace, *, organization: str = "Bastion", actor: str = "system"
) -> PkiInfo:
    info = pki_init(ws.settings.key_dir, organization=organization)
    if info.created:
        ws.ledger.append(
            [
                Event(
                    "pki.init",
                    {"root": info.root.to_dict(), "intermediate": info.intermediate.to_dict()},
                    actor,
                )
            ]
        )
    return info


def record_pki_issue(
    ws: Workspace,
    identity: str,
    *,
    hours: float,
    out_dir: Path,
    curve: str = "P-256",
    actor: str = "system",
) -> IssuedCertificate:
    issued = issue_certificate(
        ws.settings.key_dir, identity, hours=hours, out_dir=out_dir, curve=curve
    )
    ws.ledger.append([Event("pki.issue", issued.info.to_dict(), actor)])
    return issued


def signing_evidence(
    ws: Workspace, *, ref: str | None = None, check_id: str | None = None, limit: int = 50
) -> list[Evidence]:
    """Signing, verification and attestation evidence, newest first."""
    ids = [check_id] if check_id else list(SIGNING_CHECKS)
    out: list[Evidence] = []
    for cid in ids:
        out.extend(ws.evidence.list(EvidenceQuery(check_id=cid, subject_ref=ref, limit=limit)))
    out.sort(key=lambda e: e.created_at, reverse=True)
    return out[:limit]
