"""Checks of the risk room; importing this module registers them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bastion.access import Principal, Role, list_tokens
from bastion.core.canonical import canonical_json
from bastion.core.checks import (
    CheckContext,
    CheckResult,
    EvidenceData,
    RecordedCheck,
    TypedCheck,
    record_evidence,
)
from bastion.core.errors import (
    BastionError,
    CheckError,
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from bastion.core.evidence import EvidenceQuery
from bastion.core.types import Evidence, Finding, Severity, Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.manifest import SystemManifest
from bastion.risk._tiers import TierAssignment, TierPolicy, load_tier_policy, rate_system

__all__ = [
    "TIER_RATER_ROLES",
    "RatedBy",
    "RiskSimulationCheck",
    "RiskSimulationData",
    "RiskTierCheck",
    "RiskTierData",
    "assign_tier",
    "manifest_digest",
    "trusted_tier",
]

#: Token roles whose risk.tier ratings count (with MFA), besides the local administrator.
TIER_RATER_ROLES = frozenset({Role.ADMIN.value, Role.APPROVER.value})


def manifest_digest(manifest: SystemManifest) -> str:
    """The digest the inventory stores for a manifest (its JSON form without nulls)."""
    return _digest(manifest.model_dump(mode="json", exclude_none=True))


def _stored(ws: Workspace, system_id: str) -> tuple[str, SystemManifest] | None:
    from bastion.inventory import get_system

    try:
        rec = get_system(ws, system_id)
    except NotFoundError:
        return None
    return rec.digest, SystemManifest.model_validate(rec.manifest)


class RatedBy(BaseModel):
    """Who rated a tier through :func:`assign_tier` (``role`` ``local``: the local
    administrator)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    actor: str
    role: str
    mfa: bool


class RiskTierData(EvidenceData):
    """``risk.tier`` evidence data: the gate reads ``tier``, acceptances the appetite."""

    system: str
    tier: int = Field(ge=1, le=4)
    name: str
    appetite_p90: float
    acceptance_max_days: int
    required_controls: tuple[str, ...] = ()
    required_approvals: tuple[str, ...] = ()
    manifest_digest: str
    #: Set by :func:`assign_tier` (None for a plain check run, which no gate trusts).
    rated_by: RatedBy | None = None
    inventory_current: bool | None = None


class RiskSimulationData(EvidenceData):
    """``risk.simulation`` evidence data: enough to re-run the simulation exactly (it is
    deterministic for its document, seed and iterations) and to list its results."""

    source: str
    currency: str
    iterations: int = Field(ge=1)
    seed: int
    scenarios: tuple[dict[str, Any], ...]
    portfolio: dict[str, Any] | None = None
    tolerance_breaches: tuple[dict[str, Any], ...] = ()
    #: The scenarios document (``kind: RiskScenarios``) the simulation ran.
    document: dict[str, Any]
    #: Risk register ids whose summaries this simulation updated.
    recorded_on: tuple[str, ...] = ()


class RiskSimulationCheck(RecordedCheck[RiskSimulationData]):
    """A FAIR Monte Carlo simulation of a scenarios document, recorded with its seed and
    iterations by ``bastion risk simulate --record`` (``record_simulation``)."""

    id = "risk.simulation"
    title = "FAIR risk simulation (recorded)"
    description = (
        "A recorded Monte Carlo simulation of risk scenarios: per-scenario and portfolio "
        "loss percentiles and tolerance breaches; warns when the portfolio breaches its "
        "loss tolerance. Subject: the scenarios document, by its digest."
    )
    subject_kinds = ("risk_scenarios",)
    severity = Severity.INFO
    references = ("FAIR (Open FAIR O-RA)", "NIST AI RMF MEASURE 2.6", "ISO/IEC 23894")
    recorded_by = "bastion risk simulate --record (record_simulation)"


class RiskTierCheck(TypedCheck[RiskTierData]):
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
        """Rates ``params.manifest``, or without it the inventory's stored manifest of the
        system. The subject's digest must be the digest of the manifest rated."""
        raw = ctx.params.get("manifest")
        if raw is None:
            stored = _stored(ctx.workspace, subject.ref)
            if stored is None:
                raise CheckError(
                    f"system {subject.ref} is not in the inventory: import its manifest or "
                    "give params.manifest"
                )
            manifest = stored[1]
        elif isinstance(raw, dict):
            manifest = SystemManifest.model_validate(raw)
        else:
            raise CheckError("params.manifest must be a system manifest (a mapping)")
        if manifest.system.id != subject.ref:
            raise CheckError(f"manifest is for system {manifest.system.id}, not {subject.ref}")
        digest = manifest_digest(manifest)
        if subject.digest is not None and subject.digest != digest:
            raise CheckError(
                f"the manifest rated has digest {digest}, not the subject's {subject.digest}"
            )
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
        return CheckResult(
            verdict,
            tuple(findings),
            data=a.to_dict() | {"manifest_digest": digest},
            examined_digest=digest,
        )


def _digest(obj: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(obj)).hexdigest()


def assign_tier(
    ws: Workspace,
    manifest: SystemManifest | None = None,
    *,
    system: str | None = None,
    policy: str | Path | TierPolicy | None = None,
    actor: str = "cli",
    principal: Principal | None = None,
) -> tuple[TierAssignment, str]:
    """Rate the system, record the evidence (check ``risk.tier``) and the assignment.

    Without ``manifest`` the inventory's stored manifest of ``system`` is rated. With a
    ``principal`` (an API caller) the rating is privileged: the principal must be an admin
    or approver with MFA, and a ``manifest`` is accepted only when its digest equals the
    inventory's current one (no caller can have a doctored manifest rated). The evidence
    records who rated it (``data.rated_by``); gates and acceptances use only ratings of the
    current inventory manifest by the local administrator or such a principal
    (:func:`trusted_tier`). Returns the assignment and the evidence id.
    """
    from bastion.risk._rows import TierAssignmentRow

    if principal is not None:
        if principal.role.value not in TIER_RATER_ROLES:
            raise PermissionDeniedError(
                f"role {principal.role.value} may not rate risk tiers: an admin or approver "
                "with MFA rates them"
            )
        if not principal.mfa_verified:
            raise PermissionDeniedError(
                "rating a risk tier needs multi-factor authentication: send a current TOTP "
                "code in the X-Bastion-OTP header"
            )
        actor = principal.actor
    sid = manifest.system.id if manifest is not None else system
    if not sid:
        raise InputError("give a system manifest or a system id to rate")
    stored = _stored(ws, sid)
    if manifest is None:
        if stored is None:
            raise NotFoundError(
                f"system {sid} is not in the inventory: import its manifest first "
                "(bastion inventory import MANIFEST)"
            )
        digest, manifest = stored
    else:
        digest = manifest_digest(manifest)
        if principal is not None and (stored is None or stored[0] != digest):
            raise ConflictError(
                f"the manifest sent for system {sid} is not the inventory's current manifest"
                + (f" ({stored[0][:19]}…)" if stored else " (the system is not in the inventory)")
                + ": import it first, or send no manifest to rate the stored one"
            )
    pol = policy if isinstance(policy, TierPolicy) else load_tier_policy(policy)
    raw = manifest.model_dump(mode="json", by_alias=True)
    subject = Subject("system", sid, digest)
    params = {"manifest": raw, "policy": pol.model_dump(mode="json", by_alias=True)}
    try:
        result = RiskTierCheck().run(subject, CheckContext(ws, params, actor))
    except BastionError as exc:
        raise InputError(f"risk tier could not be assigned: {exc.message}") from None
    rated_by = {
        "actor": actor,
        "role": principal.role.value if principal is not None else "local",
        "mfa": principal.mfa_verified if principal is not None else False,
    }
    current = stored is not None and stored[0] == digest
    ev = record_evidence(
        ws,
        RiskTierCheck,
        subject,
        verdict=result.verdict,
        findings=result.findings,
        data=dict(result.data) | {"rated_by": rated_by, "inventory_current": current},
        actor=actor,
    )
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


def _token_role(ws: Workspace, actor: str) -> tuple[str | None, str]:
    """(role, description) of an evidence producer: a token actor ``token:<id>:<name>``
    resolves through the token table (a revoked token has no role); any other actor is
    the local administrator (the CLI, the demo, in-process callers)."""
    if not actor.startswith("token:"):
        return "local", f"{actor} (local administrator)"
    tid = actor.split(":", 2)[1] if actor.count(":") >= 2 else ""
    tok = next((t for t in list_tokens(ws) if t.id == tid), None)
    if tok is None:
        return None, f"{actor} (unknown token)"
    if tok.revoked:
        return None, f"{actor} (revoked token)"
    return tok.role.value, f"{actor} ({tok.role.value} token)"


def _rater_ok(ws: Workspace, e: Evidence) -> tuple[bool, str]:
    role, who = _token_role(ws, e.actor)
    if role == "local":
        return True, who
    if role not in TIER_RATER_ROLES:
        return False, who
    try:
        rated = RiskTierCheck.read(e).rated_by
    except CheckError:
        rated = None
    if (
        rated is None
        or rated.actor != e.actor
        or rated.role not in TIER_RATER_ROLES
        or rated.mfa is not True
    ):
        return False, f"{who}, not recorded as rated with MFA"
    return True, who


def trusted_tier(ws: Workspace, system_id: str) -> tuple[Evidence | None, list[str]]:
    """The newest ``risk.tier`` evidence of a system that gates and risk acceptances may
    use, and why newer ratings were ignored.

    It must rate the system's CURRENT inventory manifest (subject digest equal to the
    inventory's), be produced by the local administrator or by an admin/approver token
    that rated with MFA (through :func:`assign_tier`), and still match its ledgered
    digest. Anything else (an engineer's rating, a doctored manifest, an edited row) is
    ignored, with the reason."""
    stored = _stored(ws, system_id)
    if stored is None:
        return None, [f"system {system_id} is not in the inventory"]
    current = stored[0]
    notes: list[str] = []
    other = 0
    for e in ws.evidence.list(
        EvidenceQuery(
            check_id=RiskTierCheck.id, subject_kind="system", subject_ref=system_id, limit=100
        )
    ):
        if e.subject.digest != current:
            other += 1
            continue
        if e.verdict is Verdict.ERROR:
            continue
        ok, who = _rater_ok(ws, e)
        if not ok:
            notes.append(
                f"risk.tier evidence {e.id[:8]} by {who}: only the local administrator or an "
                "admin/approver with MFA may rate tiers"
            )
            continue
        if not ws.evidence.verify_digest(e):
            notes.append(
                f"risk.tier evidence {e.id[:8]} does not match its ledgered digest (the row "
                "was altered)"
            )
            continue
        try:
            RiskTierCheck.read(e)
        except CheckError:
            continue  # no valid tier in it (the model requires 1-4)
        return e, notes
    if other:
        notes.append(
            f"{other} risk.tier rating(s) of another manifest than the inventory's current "
            f"{current[:19]}…"
        )
    return None, notes
