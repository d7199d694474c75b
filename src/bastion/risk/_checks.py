"""Checks of the risk room; importing this module registers them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bastion.core.canonical import canonical_json
from bastion.core.checks import Check, CheckContext, CheckResult, run_check
from bastion.core.errors import CheckError, InputError
from bastion.core.types import Finding, Severity, Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.manifest import SystemManifest
from bastion.risk._tiers import TierAssignment, TierPolicy, load_tier_policy, rate_system

__all__ = ["RiskTierCheck", "assign_tier"]


class RiskTierCheck(Check):
    """Rates a system into tier 1-4 from its manifest's criteria, so gates can require
    the tier's controls and approvals on evidence rather than on a tag someone typed."""

    id = "risk.tier"
    title = "Risk tier assignment"
    description = (
        "Scores decision impact, data sensitivity, autonomy and regulatory scope from the "
        "manifest against the tier policy and records the tier, its appetite, required "
        "controls and approvals."
    )
    subject_kinds = ("system",)
    severity = Severity.INFO
    references = ("EU AI Act Art. 6", "NIST AI RMF MAP 1.5", "ISO/IEC 42001 6.1.2")

    def run(self, subject: Subject, ctx: CheckContext) -> CheckResult:
        raw = ctx.params.get("manifest")
        if not isinstance(raw, dict):
            raise CheckError("risk.tier needs the manifest (params.manifest)")
        manifest = SystemManifest.model_validate(raw)
        if manifest.system.id != subject.ref:
            raise CheckError(f"manifest is for system {manifest.system.id}, not {subject.ref}")
        pol_raw = ctx.params.get("policy")
        policy = TierPolicy.model_validate(pol_raw) if pol_raw is not None else load_tier_policy()
        a = rate_system(manifest, policy)
        tag = manifest.system.tags.get("risk-tier")
        findings = [
            Finding(
                rule_id="risk.tier.assigned",
                title=f"Tier {a.tier} ({a.name})",
                severity=Severity.INFO,
                message=f"{a.why}; scores {a.scores}; appetite P90 {a.spec.appetite_p90:,.0f}",
                location=f"system:{subject.ref}",
            )
        ]
        verdict = Verdict.PASS
        if tag is not None and tag != a.name:
            verdict = Verdict.WARN
            findings.append(
                Finding(
                    rule_id="risk.tier.tag_mismatch",
                    title="Declared risk-tier tag disagrees with the rated tier",
                    severity=Severity.LOW,
                    message=f"tags.risk-tier is '{tag}' but the criteria give '{a.name}'",
                    location=f"system:{subject.ref}",
                    remediation="Correct the tag or the system metadata it derives from.",
                )
            )
        return CheckResult(verdict, tuple(findings), data=a.to_dict())


def _digest(obj: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(obj)).hexdigest()


def assign_tier(
    ws: Workspace,
    manifest: SystemManifest,
    *,
    policy: str | Path | TierPolicy | None = None,
    actor: str = "cli",
) -> tuple[TierAssignment, str]:
    """Rate the system, record the evidence (check ``risk.tier``) and the assignment.

    Returns the assignment and the evidence id.
    """
    from bastion.risk._register import TierAssignmentRow

    pol = policy if isinstance(policy, TierPolicy) else load_tier_policy(policy)
    raw = manifest.model_dump(mode="json", by_alias=True)
    ev = run_check(
        ws,
        RiskTierCheck,
        Subject("system", manifest.system.id, _digest(raw)),
        actor=actor,
        params={"manifest": raw, "policy": pol.model_dump(mode="json", by_alias=True)},
    )
    if ev.verdict is Verdict.ERROR:
        raise InputError(f"risk tier could not be assigned: {ev.data.get('error')}")
    a = rate_system(manifest, pol)
    with ws.db.session() as s:
        s.add(
            TierAssignmentRow(
                system_id=a.system_id,
                tier=a.tier,
                name=a.name,
                policy_version=a.policy_version,
                appetite_p90=a.spec.appetite_p90,
                evidence_id=ev.id,
                data=a.to_dict(),
                actor=actor,
                created_at=datetime.now(UTC),
            )
        )
    return a, ev.id
