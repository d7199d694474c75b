"""Checks of the integrity room's signing part; importing registers them.

Each check records one operation (sign, verify, attest) as evidence. The public
``record_*`` functions do the work first (so the subject carries the manifest digest)
and pass the result in ``params["result"]``; without it, the check does the work itself
from string parameters, so ``bastion checks run`` works too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bastion.core.checks import Check, CheckContext, CheckResult
from bastion.core.errors import BastionError, CheckError
from bastion.core.types import Finding, Severity, Subject, Verdict
from bastion.integrity._policy import load_policy
from bastion.integrity._provenance import AttestationCheck, verify_attestation
from bastion.integrity._signing import (
    SignResult,
    VerifyResult,
    load_signing_key,
    sign_model,
    verify_model,
)

__all__ = [
    "ATTESTATION_ATTACHMENT",
    "ModelAttestationCheck",
    "ModelSignCheck",
    "ModelSignatureCheck",
]

ATTESTATION_ATTACHMENT = "attestation.sigstore.json"

_REFS = ("NIST AI RMF MS-2.7", "ISO/IEC 42001 A.6.2.6", "SLSA v1.0", "OpenSSF model-signing v1.0")


def _paths(value: Any) -> list[Path]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [Path(v) for v in value.split(",") if v]
    return [Path(v) for v in value]


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

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        res = ctx.params.get("result")
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
        return CheckResult(Verdict.PASS, data=res.to_dict())


class ModelSignatureCheck(Check):
    id = "integrity.signature"
    title = "Model signature verifies under its policy"
    description = (
        "Authenticates each signature (key or certificate chain, identities, revocation, "
        "trust-root age), rehashes the model and names every modified, added, missing or "
        "renamed file and every symlink."
    )
    subject_kinds = ("model",)
    severity = Severity.CRITICAL
    references = _REFS

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
            )
        verdict = Verdict.PASS if res.ok else Verdict.FAIL
        return CheckResult(verdict, findings=res.all_findings, data=res.to_dict())


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

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        res = ctx.params.get("result")
        if isinstance(res, dict):
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
        return CheckResult(
            Verdict.PASS if res.ok else Verdict.FAIL, findings=findings, data=res.to_dict()
        )
