"""Inventory hygiene: the facts every later control relies on are present and sane."""

from __future__ import annotations

from typing import Any

from bastion.core.checks import Check, CheckContext, CheckResult
from bastion.core.errors import CheckError
from bastion.core.types import Finding, Severity, Subject, Verdict

__all__ = ["InventoryHygieneCheck"]

_SENSITIVE = {"confidential", "restricted"}


class InventoryHygieneCheck(Check):
    id = "inventory.hygiene"
    title = "Inventory hygiene of an AI system"
    description = (
        "Every asset has an owner; assets holding PII or sensitive data are encrypted at rest; "
        "flows that cross a trust boundary are authenticated and encrypted in transit."
    )
    subject_kinds = ("system",)
    severity = Severity.HIGH
    references = ("NIST AI RMF MAP 1.1", "ISO/IEC 42001 A.4.2")

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        from bastion.inventory._store import get_system
        from bastion.manifest import SystemManifest

        record = get_system(ctx.workspace, subject.ref)
        if subject.digest and subject.digest != record.digest:
            raise CheckError(f"system {subject.ref} is at {record.digest}, not {subject.digest}")
        manifest = SystemManifest.model_validate(record.manifest)
        findings: list[Finding] = []
        for a in manifest.assets:
            body: dict[str, Any] = a.model_dump(mode="json")
            enc = body.get("encryption") or {}
            pii = [p for p in body.get("pii_categories") or [] if p != "none"]
            if body.get("classification") in _SENSITIVE or pii:
                if body.get("kind") not in ("human_actor",) and not enc.get("at_rest"):
                    findings.append(Finding(
                        "inventory.unencrypted-sensitive-asset", "Sensitive asset not encrypted at rest",
                        Severity.HIGH,
                        f"{a.id} holds {body.get('classification')} data"
                        + (f" with PII ({', '.join(pii)})" if pii else "") + " but is not encrypted at rest",
                        location=f"assets/{a.id}", remediation="Enable encryption at rest and record it in the manifest."))
        for f in manifest.flows_crossing_boundaries():
            body = f.model_dump(mode="json")
            enc = body.get("encryption") or {}
            in_transit = enc.get("in_transit") if isinstance(enc, dict) else body.get("encrypted")
            if not in_transit:
                findings.append(Finding(
                    "inventory.plaintext-boundary-flow", "Boundary-crossing flow not encrypted",
                    Severity.HIGH, f"flow {f.id} ({f.source} -> {f.target}) crosses a trust boundary unencrypted",
                    location=f"flows/{f.id}", remediation="Use TLS (or mTLS) on this flow."))
            if str(body.get("authentication", "none")) == "none":
                findings.append(Finding(
                    "inventory.unauthenticated-boundary-flow", "Boundary-crossing flow not authenticated",
                    Severity.MEDIUM, f"flow {f.id} ({f.source} -> {f.target}) crosses a trust boundary without authentication",
                    location=f"flows/{f.id}", remediation="Authenticate the caller (mTLS, OAuth2 or IAM)."))
        verdict = Verdict.FAIL if any(x.severity.at_least(Severity.HIGH) for x in findings) else (
            Verdict.WARN if findings else Verdict.PASS)
        return CheckResult(verdict, tuple(findings), {
            "system": record.id, "system_version": record.version, "manifest_digest": record.digest,
            "assets": len(manifest.assets), "flows": len(manifest.flows)})
