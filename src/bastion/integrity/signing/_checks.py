"""Checks of the integrity room's signing part; importing registers them.

Each check records one operation (sign, verify, attest) as evidence. The public
``record_*`` functions do the work first (so the subject carries the manifest digest)
and pass the result in ``params["result"]``; without it, the check does the work itself
from string parameters, so ``bastion checks run`` works too.

Each check's evidence is bound to the digest of what it examined: the manifest a
signature was made over or verified against, or the digest an attestation names. API
callers never pass a result; they may not sign (that uses the server's keys) and may not
pass a verification policy (it names further files); their paths are confined.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from bastion.core.checks import (
    Check,
    CheckContext,
    CheckResult,
    EvidenceData,
    ParamKind,
    ParamSpec,
    TypedCheck,
)
from bastion.core.errors import BastionError, CheckError
from bastion.core.types import Finding, Severity, Subject, Verdict
from bastion.integrity.signing._policy import load_policy
from bastion.integrity.signing._provenance import AttestationCheck, verify_attestation
from bastion.integrity.signing._sign import (
    SignResult,
    VerifyResult,
    load_signing_key,
    sign_model,
    signed_manifest,
    verify_model,
)

__all__ = [
    "ATTESTATION_ATTACHMENT",
    "ModelAttestationCheck",
    "ModelSignCheck",
    "ModelSignatureCheck",
    "SignatureData",
]

ATTESTATION_ATTACHMENT = "attestation.sigstore.json"

_REFS = ("NIST AI RMF MS-2.7", "ISO/IEC 42001 A.6.2.6", "SLSA v1.0", "OpenSSF model-signing v1.0")


def _paths(value: Any) -> list[Path]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [Path(v) for v in value.split(",") if v]
    return [Path(v) for v in value]


def _sha(digest: str | None) -> str | None:
    return f"sha256:{digest.removeprefix('sha256:')}" if digest else None


_TRUST = {
    "public_key": ParamSpec(ParamKind.ANCHORS, "PEM public keys under a trust-anchor root"),
    "trust_root": ParamSpec(ParamKind.ANCHORS, "PEM CA certificates under a trust-anchor root"),
    "identity": ParamSpec(ParamKind.STRS, "allowed certificate identities", max_length=320),
}


def _strs(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    return [str(v) for v in value]


class ModelSignCheck(Check):
    id = "integrity.sign"
    title = "Model signed (OpenSSF model-signing v1.0)"
    description = "Hashes every file of a model and signs the manifest as a Sigstore bundle."
    subject_kinds = ("model",)
    severity = Severity.HIGH
    references = _REFS
    remote = False  # signs with keys on the server: `bastion model sign`, never the API

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        res = ctx.params.get("result")
        if ctx.remote:
            raise CheckError("integrity.sign cannot be run by an API caller")
        if not isinstance(res, SignResult):
            key = ctx.params.get("key")
            if not key:
                raise CheckError("integrity.sign needs the parameter key=PATH|pkcs11:URI")
            res = sign_model(
                Path(str(ctx.params.get("model") or subject.ref)),
                load_signing_key(str(key)),
                signature_path=Path(str(ctx.params["signature"]))
                if ctx.params.get("signature")
                else None,
            )
        return CheckResult(
            Verdict.PASS, data=res.to_dict(), examined_digest=_sha(res.manifest.digest)
        )


class SignatureData(EvidenceData):
    """``integrity.signature`` evidence data. ``valid_signers`` names who verified:
    ``cert:ID1,ID2`` (a certificate with those identities) or ``key:HINT``."""

    ok: bool
    digest: str | None = None
    required_signatures: int = 1
    valid_signers: tuple[str, ...] = ()

    @property
    def certificate_identities(self) -> tuple[str, ...]:
        """The identities of the valid certificate signers, sorted (none for keys)."""
        return tuple(
            sorted(
                {i for x in self.valid_signers if x.startswith("cert:") for i in x[5:].split(",")}
                - {""}
            )
        )


class ModelSignatureCheck(TypedCheck[SignatureData]):
    id = "integrity.signature"
    title = "Model signature verifies under its policy"
    description = (
        "Authenticates each signature (key or certificate chain, identities, revocation, "
        "trust-root age; Sigstore bundles offline: Fulcio chain, SCT, Rekor inclusion proof "
        "and checkpoint, signed entry timestamp, identity and OIDC issuer), rehashes the "
        "model and names every modified, added, missing or renamed file and every symlink."
    )
    subject_kinds = ("model",)
    severity = Severity.CRITICAL
    references = _REFS
    remote_params: ClassVar[Mapping[str, ParamSpec]] = {
        "model": ParamSpec(ParamKind.PATH, "model directory or file", subject_ref=True),
        "signature": ParamSpec(ParamKind.PATHS, "Sigstore bundles (default: model.sig)"),
        **_TRUST,
        "sigstore_trust_root": ParamSpec(
            ParamKind.ANCHOR,
            "Sigstore trusted_root.json under a trust-anchor root (keyless bundles)",
        ),
        "issuer": ParamSpec(ParamKind.STRS, "allowed OIDC issuers (Sigstore)", max_length=320),
    }

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        res = ctx.params.get("result")
        exc = getattr(res, "exc", None)
        if isinstance(exc, BastionError):
            raise exc
        if not isinstance(res, VerifyResult):
            p = ctx.params
            res = verify_model(
                Path(str(p.get("model") or subject.ref)),
                _paths(p.get("signature")),
                public_keys=_paths(p.get("public_key")),
                trust_roots=_paths(p.get("trust_root")),
                identities=_strs(p.get("identity")),
                policy=load_policy(Path(str(p["policy"]))) if p.get("policy") else None,
                sigstore_trust_root=Path(str(p["sigstore_trust_root"]))
                if p.get("sigstore_trust_root")
                else None,
                issuers=_strs(p.get("issuer")),
            )
        verdict = Verdict.PASS if res.ok else Verdict.FAIL
        # The digest the signatures were checked against: the model's files, rehashed.
        examined = _sha(res.manifest_digest)
        if examined is None and not isinstance(ctx.params.get("result"), VerifyResult):
            examined = _sha(signed_manifest(res.model).digest)
        return CheckResult(
            verdict, findings=res.all_findings, data=res.to_dict(), examined_digest=examined
        )


class ModelAttestationCheck(Check):
    id = "integrity.provenance"
    title = "Model provenance attested (in-toto, SLSA v1)"
    description = (
        "Records a signed in-toto attestation (SLSA provenance, scan verdict, AI-BOM) over "
        "the model's manifest digest, or verifies one."
    )
    subject_kinds = ("model",)
    severity = Severity.MEDIUM
    references = _REFS
    remote_params: ClassVar[Mapping[str, ParamSpec]] = {
        "attestation": ParamSpec(ParamKind.PATH, "Sigstore bundle of an in-toto statement"),
        **_TRUST,
    }

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        res = ctx.params.get("result")
        if isinstance(res, dict) and not ctx.remote:
            bundle = ctx.params.get("bundle")
            attach = {ATTESTATION_ATTACHMENT: bundle} if isinstance(bundle, bytes) else {}
            return CheckResult(Verdict.PASS, data=res, attachments=attach)
        if not isinstance(res, AttestationCheck):
            p = ctx.params
            if not p.get("attestation"):
                raise CheckError("integrity.provenance needs the parameter attestation=PATH")
            res = verify_attestation(
                Path(str(p["attestation"])),
                public_keys=_paths(p.get("public_key")),
                trust_roots=_paths(p.get("trust_root")),
                identities=_strs(p.get("identity")),
                expected_digest=subject.digest,
            )
        findings: tuple[Finding, ...] = res.findings
        # The attestation was checked against the subject's digest (it passes only when it
        # attests that digest); without one, it is about its one subject's digest (several
        # subjects and no choice: nothing to vouch for).
        attested = {_sha(d) for d in res.subjects.values() if d}
        examined = subject.digest
        if examined is None:
            examined = next(iter(attested)) if len(attested) == 1 else None
        return CheckResult(
            Verdict.PASS if res.ok else Verdict.FAIL,
            findings=findings,
            data=res.to_dict(),
            examined_digest=examined,
        )
