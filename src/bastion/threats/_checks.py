"""Checks of the threats room; importing this module registers them.

``threats.questionnaire`` makes a scored third-party questionnaire evidence about its asset
(subject ``asset:SYSTEM/ASSET``): it passes while no high or critical answer is open, and
it is the evidence rule AI-THIRD-PARTY-MODEL looks for.

``threats.model`` makes a threat-model run evidence: its subject is the system pinned to
the manifest digest, its findings the open and suppressed threats, its data the whole
model (the risk room seeds scenarios from it), and the SARIF log is attached.

A precomputed model, manifest or questionnaire result is accepted from in-process callers
only; an API caller's ``threats.model`` models the inventory's current manifest, and
``threats.questionnaire`` is not an API check at all (``POST /threats/model`` scores
questionnaires). Both bind their evidence to the digest of what they examined.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from bastion.core.canonical import canonical_json
from bastion.core.checks import (
    Check,
    CheckContext,
    CheckResult,
    EvidenceData,
    ParamKind,
    ParamSpec,
    TypedCheck,
)
from bastion.core.errors import CheckError
from bastion.core.types import Finding, Severity, Subject, Verdict
from bastion.manifest import SystemManifest
from bastion.threats._model import Status, ThreatModel, model_threats
from bastion.threats._outputs import to_sarif

__all__ = ["QuestionnaireCheck", "ThreatModelCheck", "ThreatModelData", "ThreatSummary"]


class ThreatSummary(BaseModel):
    """A threat model's counts. ``open_by_severity`` counts OPEN threats only (mitigated
    and accepted ones do not)."""

    model_config = ConfigDict(frozen=True, extra="allow")
    elements: int
    findings: int
    by_status: dict[str, int]
    open_by_severity: dict[str, int]


class ThreatModelData(EvidenceData):
    """``threats.model`` evidence data: the whole model; gates read ``summary``."""

    system: str
    manifest_digest: str
    summary: ThreatSummary
    suppressions: tuple[dict[str, object], ...] = ()
    fail_on: Severity = Severity.HIGH


class ThreatModelCheck(TypedCheck[ThreatModelData]):
    id = "threats.model"
    title = "Threat model of an AI system (STRIDE + ATLAS rules)"
    description = (
        "Applies the threat rule catalog to the system's data-flow graph. Fails while an "
        "open, unsuppressed threat at or above `fail_on` (default high) exists; warns on "
        "lower open threats. Without a precomputed model it models the inventory's "
        "current manifest of the system."
    )
    subject_kinds = ("system",)
    severity = Severity.HIGH
    references = ("MITRE ATLAS", "STRIDE", "OWASP LLM Top 10 2025", "NIST AI 100-2")
    remote_params: ClassVar[Mapping[str, ParamSpec]] = {
        "fail_on": ParamSpec(
            ParamKind.ENUM, "lowest failing severity", tuple(s.value for s in Severity)
        ),
    }

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        model = None if ctx.remote else ctx.params.get("model")
        if not isinstance(model, ThreatModel):
            manifest = None if ctx.remote else ctx.params.get("manifest")
            if not isinstance(manifest, SystemManifest):
                from bastion.inventory import get_system

                rec = get_system(ctx.workspace, subject.ref)
                manifest = SystemManifest.model_validate(rec.manifest)
            from bastion.threats._api import stored_suppressions

            # Keep the acceptances of the latest recorded run: re-running the check from
            # the inventory must not silently drop them.
            sup, _ = stored_suppressions(ctx.workspace, subject.ref)
            model = model_threats(
                manifest, workspace=ctx.workspace, source=subject.ref, suppressions=sup
            )
        if model.system_id != subject.ref:
            raise CheckError(f"model is of system {model.system_id}, subject is {subject.ref}")
        if subject.digest is not None and subject.digest != model.manifest_digest:
            raise CheckError(
                f"subject digest {subject.digest} is not the modeled manifest's "
                f"{model.manifest_digest}"
            )
        fail_on = Severity(str(ctx.params.get("fail_on", Severity.HIGH.value)))
        findings = tuple(
            Finding(
                rule_id=f.rule.id,
                title=f.rule.title,
                severity=f.severity,
                message=f"[{f.status.value}] {f.element_id}: {f.applies_because}; {f.mitigation}",
                location=f"{model.system_id}/{f.element_id}",
                references=(*f.rule.atlas, *f.rule.owasp, *f.rule.cwe),
                remediation=f.rule.remediation,
            )
            for f in model.findings
            if f.status is not Status.MITIGATED
        )
        if model.open_at_least(fail_on):
            verdict = Verdict.FAIL
        elif any(f.open for f in model.findings):
            verdict = Verdict.WARN
        else:
            verdict = Verdict.PASS
        data = model.to_dict() | {"fail_on": fail_on.value}
        sarif = json.dumps(to_sarif(model), indent=1).encode()
        return CheckResult(
            verdict, findings, data, {"threats.sarif.json": sarif}, model.manifest_digest
        )


class QuestionnaireCheck(Check):
    id = "threats.questionnaire"
    title = "Third-party model/API questionnaire (vendor review)"
    description = (
        "Scores a vendor's answers (data sent, retention, training on customer data, "
        "region, certifications, incidents, model provenance) into findings on the "
        "third-party asset. Fails while a high or critical answer is open; warns on lower "
        "open answers. Needs the scored result (params.result), as `bastion threats model "
        "--questionnaire ID=FILE --record` gives it."
    )
    subject_kinds = ("asset",)
    severity = Severity.HIGH
    references = ("OWASP LLM03:2025", "NIST AI RMF GOVERN 6.1", "ISO/IEC 42001 A.10.3")
    remote = False  # its input is a scored result, which only in-process callers may pass

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        res = None if ctx.remote else ctx.params.get("result")
        if not isinstance(res, dict) or not isinstance(res.get("findings"), list):
            raise CheckError(
                "threats.questionnaire needs a scored questionnaire (params.result); run "
                "`bastion threats model MANIFEST --questionnaire ASSET=FILE --record`"
            )
        if not subject.ref.endswith("/" + str(res.get("asset"))):
            raise CheckError(f"questionnaire is about {res.get('asset')}, subject is {subject}")
        open_ = [f for f in res["findings"] if f.get("status") == "open"]
        findings = tuple(
            Finding(
                rule_id=str(f["rule_id"]),
                title=str(f["title"]),
                severity=Severity(str(f["severity"])),
                message=f"{f['applies_because']}; {f['mitigation']}",
                location=subject.ref,
                references=tuple(f.get("owasp", ())) + tuple(f.get("cwe", ())),
                remediation=f.get("remediation"),
            )
            for f in open_
        )
        if any(x.severity.at_least(Severity.HIGH) for x in findings):
            verdict = Verdict.FAIL
        elif findings:
            verdict = Verdict.WARN
        else:
            verdict = Verdict.PASS
        digest = "sha256:" + hashlib.sha256(canonical_json(res)).hexdigest()
        return CheckResult(verdict, findings, dict(res), examined_digest=digest)
