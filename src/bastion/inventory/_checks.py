"""Inventory hygiene: the facts every later control relies on are present and sane."""

from __future__ import annotations

from bastion.core.checks import Check, CheckContext, CheckResult
from bastion.core.errors import CheckError
from bastion.core.types import Finding, Severity, Subject, Verdict

__all__ = ["InventoryHygieneCheck"]


class InventoryHygieneCheck(Check):
    id = "inventory.hygiene"
    title = "Inventory hygiene of an AI system"
    description = (
        "Assets holding PII or confidential data are encrypted at rest; flows that cross a "
        "trust boundary are authenticated and encrypted in transit."
    )
    subject_kinds = ("system",)
    severity = Severity.HIGH
    references = ("NIST AI RMF MAP 1.1", "ISO/IEC 42001 A.4.2")

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        from bastion.inventory._store import get_system
        from bastion.manifest import AssetKind, Authentication, Classification, SystemManifest

        record = get_system(ctx.workspace, subject.ref)
        if subject.digest and subject.digest != record.digest:
            raise CheckError(f"system {subject.ref} is at {record.digest}, not {subject.digest}")
        manifest = SystemManifest.model_validate(record.manifest)
        findings: list[Finding] = []
        for a in manifest.assets:
            sensitive = a.classification.at_least(Classification.CONFIDENTIAL) or a.has_pii
            if sensitive and a.kind is not AssetKind.HUMAN_ACTOR and not a.encryption.at_rest:
                pii = ", ".join(p.value for p in a.pii_categories)
                findings.append(
                    Finding(
                        "inventory.unencrypted-sensitive-asset",
                        "Sensitive asset not encrypted at rest",
                        Severity.HIGH,
                        f"{a.id} holds {a.classification.value} data"
                        + (f" with PII ({pii})" if a.has_pii else "")
                        + " but is not encrypted at rest",
                        location=f"assets/{a.id}",
                        remediation="Encrypt it at rest and record that in the manifest.",
                    )
                )
        for f in manifest.flows_crossing_boundaries():
            where = f"flow {f.id} ({f.source} -> {f.target})"
            if not f.encryption.in_transit:
                findings.append(
                    Finding(
                        "inventory.plaintext-boundary-flow",
                        "Boundary-crossing flow not encrypted",
                        Severity.HIGH,
                        f"{where} crosses a trust boundary unencrypted",
                        location=f"flows/{f.id}",
                        remediation="Use TLS (or mTLS) on this flow.",
                    )
                )
            if f.authentication is Authentication.NONE:
                findings.append(
                    Finding(
                        "inventory.unauthenticated-boundary-flow",
                        "Boundary-crossing flow not authenticated",
                        Severity.MEDIUM,
                        f"{where} crosses a trust boundary without authentication",
                        location=f"flows/{f.id}",
                        remediation="Authenticate the caller (mTLS, OAuth2 or IAM).",
                    )
                )
        high = any(x.severity.at_least(Severity.HIGH) for x in findings)
        verdict = Verdict.FAIL if high else (Verdict.WARN if findings else Verdict.PASS)
        return CheckResult(
            verdict,
            tuple(findings),
            {
                "system": record.id,
                "system_version": record.version,
                "manifest_digest": record.digest,
                "assets": len(manifest.assets),
                "flows": len(manifest.flows),
                "boundary_crossing_flows": len(manifest.flows_crossing_boundaries()),
            },
            examined_digest=record.digest,
        )
