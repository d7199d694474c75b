"""Gate evaluation: a version against its tier's policy for a stage. Controls and inline
evidence requirements are judged by the compliance room (:func:`evaluate_control`, the one
place for freshness, stale evidence, producers and ledger integrity); approvals and
ownership here. Without side effects; the approvals queue and past refusals too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.compliance import (
    ControlResult,
    ControlSubject,
    ProducerRoles,
    evaluate_control,
    get_control,
)
from bastion.core.workspace import Workspace
from bastion.governance import raci_for
from bastion.registry._gate_approvals import _approvals, _check_approval, _requester
from bastion.registry._gate_common import RequirementResult, _now, _stage, _tier
from bastion.registry._policy import Scope, Stage, current_policy
from bastion.registry._rows import ModelRow, RequestRow, VersionRow
from bastion.registry._store import find_version, version_info

__all__ = ["GateResult", "evaluate_gate", "list_refusals", "pending_promotions"]


@dataclass(frozen=True)
class GateResult:
    model: str
    version: str
    digest: str
    stage: Stage
    tier: int
    tier_source: str
    policy_version: int
    requirements: tuple[RequirementResult, ...]
    evaluated_at: datetime
    #: The risk.tier evidence the tier came from and its producer (None otherwise).
    tier_evidence: str | None = None
    tier_producer: str | None = None

    @property
    def satisfied(self) -> bool:
        return all(r.satisfied for r in self.requirements)

    @property
    def unmet(self) -> list[RequirementResult]:
        return [r for r in self.requirements if not r.satisfied]

    @property
    def evidence_ids(self) -> list[str]:
        return [e for r in self.requirements for e in r.evidence_ids]

    @property
    def approval_ids(self) -> list[str]:
        return [a for r in self.requirements for a in r.approval_ids]

    @property
    def evidence_producers(self) -> dict[str, str]:
        """Evidence id -> who produced it, for every evidence the gate looked at (the tier's
        included): what each gate result and promotion event records."""
        out = {
            e: p
            for r in self.requirements
            for e, p in zip(r.evidence_ids, r.producers, strict=False)
        }
        if self.tier_evidence and self.tier_producer:
            out[self.tier_evidence] = self.tier_producer
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "digest": self.digest,
            "stage": self.stage.value,
            "tier": self.tier,
            "tier_source": self.tier_source,
            "policy_version": self.policy_version,
            "satisfied": self.satisfied,
            "evaluated_at": self.evaluated_at.isoformat(),
            "tier_evidence": self.tier_evidence,
            "evidence_producers": self.evidence_producers,
            "requirements": [r.to_dict() for r in self.requirements],
        }


def _line(res: ControlResult, rid: str, kind: str) -> RequirementResult:
    """A control's result as one line of the gate."""
    return RequirementResult(
        rid,
        kind,
        res.description,
        res.satisfied,
        res.reason,
        res.remedy,
        res.evidence_ids,
        (),
        res.producers,
    )


def _evaluate(
    ws: Workspace, s: Session, m: ModelRow, v: VersionRow, stage: Stage, now: datetime
) -> GateResult:
    pversion, policy = current_policy(ws)
    tier, source, tier_ev = _tier(ws, m, policy.default_tier)
    info = version_info(v, m)
    by_whom = ProducerRoles(ws)
    sp = policy.for_stage(tier, stage)
    reqs: list[RequirementResult] = []
    if sp is None:
        reqs.append(
            RequirementResult(
                "policy",
                "policy",
                f"a tier {tier} policy for {stage.value}",
                False,
                f"gate policy v{pversion} has no {stage.value} stage for tier {tier}",
                "add it to the gate policy (deny by default)",
            )
        )
    else:
        earlier = [
            (o.version, o.digest)
            for o in s.scalars(
                select(VersionRow).where(VersionRow.model_name == m.name, VersionRow.id != v.id)
            )
            if o.digest != v.digest
        ]
        subject = ControlSubject(
            ref=info.ref,
            digest=info.digest,
            system_id=info.system_id,
            model=info.model,
            earlier=tuple(earlier),
        )
        reqs.extend(
            _line(
                evaluate_control(ws, get_control(cid), subject, now=now, roles=by_whom),
                f"control:{cid}",
                "control",
            )
            for cid in sp.controls
        )
        reqs.extend(
            _line(
                evaluate_control(ws, ereq.to_control(), subject, now=now, roles=by_whom),
                f"evidence:{ereq.kind}" + (":system" if ereq.scope is Scope.SYSTEM else ""),
                "evidence",
            )
            for ereq in sp.evidence
        )
        approvals = _approvals(s, v)
        requester = _requester(s, v, stage)
        reqs.extend(
            _check_approval(ws, info, stage, areq, approvals, requester, now)
            for areq in sp.approvals
        )
        for duty in sp.raci:
            who = None
            where = ""
            if m.asset_id and m.system_id:
                who = raci_for(ws, "asset", f"{m.system_id}/{m.asset_id}").get(duty.value)
                where = f"asset {m.system_id}/{m.asset_id}"
            if who is None and m.system_id:
                who = raci_for(ws, "system", m.system_id).get(duty.value)
                where = f"system {m.system_id}"
            reqs.append(
                RequirementResult(
                    f"raci:{duty.value}",
                    "raci",
                    f"a named {duty.value.replace('_', ' ')}",
                    who is not None,
                    f"{duty.value} of {where}: {who}" if who else f"no {duty.value} assigned",
                    None
                    if who
                    else f"assign one: bastion governance raci set system {m.system_id or 'SYSTEM'} "
                    f"{duty.value} PERSON",
                )
            )
    return GateResult(
        m.name,
        v.version,
        v.digest,
        stage,
        tier,
        source,
        pversion,
        tuple(reqs),
        now,
        tier_ev.id if tier_ev else None,
        tier_ev.actor if tier_ev else None,
    )


def evaluate_gate(
    ws: Workspace,
    name: str,
    version: str,
    stage: Stage | str = Stage.PRODUCTION,
    *,
    now: datetime | None = None,
) -> GateResult:
    """The gate, without side effects (what ``bastion gate check`` runs in CI)."""
    stage = _stage(stage)
    with ws.db.session() as s:
        m, v = find_version(s, name, version)
        return _evaluate(ws, s, m, v, stage, now or _now())


def list_refusals(
    ws: Workspace, name: str, version: str | None = None, *, limit: int = 50
) -> list[dict[str, Any]]:
    """Past refused promotions of a model (or one version), newest first, from the ledger:
    when, who asked, the stage, tier and the unmet requirement ids."""
    out: list[dict[str, Any]] = []
    for e in ws.ledger.entries(kind="registry.promotion_refused", limit=10_000, newest_first=True):
        if e.data.get("model") != name or (
            version is not None and e.data.get("version") != version
        ):
            continue
        out.append({"seq": e.seq, "at": e.recorded_at, "actor": e.actor, **e.data})
        if len(out) >= limit:
            break
    return out


def pending_promotions(ws: Workspace) -> list[GateResult]:
    """The approvals queue: requested promotions not yet applied, with their gate status."""
    with ws.db.session() as s:
        rows = list(
            s.execute(
                select(RequestRow, VersionRow).join(
                    VersionRow, RequestRow.version_id == VersionRow.id
                )
            )
        )
        out = []
        for r, v in rows:
            if v.stage == r.stage:
                continue
            m = s.get(ModelRow, v.model_name)
            assert m is not None
            out.append(_evaluate(ws, s, m, v, Stage(r.stage), _now()))
        return out
