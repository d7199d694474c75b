"""Promotion: evaluate the gate under the model's lock and either move the version
(archiving the previous production version) or record the refusal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bastion.core.errors import ConflictError
from bastion.core.ledger import Event
from bastion.core.workspace import Workspace
from bastion.registry._gate_approvals import _ensure_request
from bastion.registry._gate_common import GATED, _now, _stage
from bastion.registry._gate_eval import GateResult, _evaluate
from bastion.registry._policy import Stage
from bastion.registry._rows import VersionRow
from bastion.registry._store import Transition, find_version, lock_model, record_transition

__all__ = ["PromotionResult", "promote"]


@dataclass(frozen=True)
class PromotionResult:
    promoted: bool
    gate: GateResult | None
    transitions: tuple[Transition, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "promoted": self.promoted,
            "gate": self.gate.to_dict() if self.gate else None,
            "transitions": [t.to_dict() for t in self.transitions],
        }


def promote(
    ws: Workspace,
    name: str,
    version: str,
    to: Stage | str = Stage.PRODUCTION,
    *,
    actor: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> PromotionResult:
    """Evaluate the gate under the model's lock and either move the version (archiving the
    previous production version) or record the refusal with every unmet requirement.
    A version already at the target stage is a conflict (no double apply)."""
    to = _stage(to)
    now = now or _now()
    with ws.db.session() as s:
        m = lock_model(s, name)
        m, v = find_version(s, name, version)
        if v.stage == to.value:
            raise ConflictError(f"{name}@{v.version} is already in {to.value}")
        if to not in GATED:
            t = record_transition(ws, s, v, action="demote", to=to, actor=actor, reason=reason)
            return PromotionResult(True, None, (t,))
        _ensure_request(ws, s, v, to, actor)
        gate = _evaluate(ws, s, m, v, to, now)
        if not gate.satisfied:
            ws.ledger.append(
                [
                    Event(
                        "registry.promotion_refused",
                        {
                            "model": name,
                            "version": v.version,
                            "digest": v.digest,
                            "stage": to.value,
                            "tier": gate.tier,
                            "policy_version": gate.policy_version,
                            "unmet": [r.id for r in gate.unmet],
                            "evidence_ids": gate.evidence_ids,
                            "evidence_producers": gate.evidence_producers,
                            "tier_source": gate.tier_source[:500],
                        },
                        actor,
                    )
                ],
                session=s,
            )
            return PromotionResult(False, gate)
        transitions: list[Transition] = []
        if to is Stage.PRODUCTION:
            for other in s.scalars(
                select(VersionRow).where(
                    VersionRow.model_name == name,
                    VersionRow.stage == Stage.PRODUCTION.value,
                    VersionRow.id != v.id,
                )
            ):
                transitions.append(  # noqa: PERF401 - each call writes to the ledger
                    record_transition(
                        ws,
                        s,
                        other,
                        action="archive",
                        to=Stage.ARCHIVED,
                        actor=actor,
                        reason=f"superseded by {name}@{v.version}",
                    )
                )
        passed = dict(v.gate_passed)
        passed[to.value] = {
            "at": now.isoformat(),
            "policy_version": gate.policy_version,
            "tier": gate.tier,
            "evidence_ids": gate.evidence_ids,
            "evidence_producers": gate.evidence_producers,
            "approval_ids": gate.approval_ids,
        }
        v.gate_passed = passed
        transitions.append(
            record_transition(
                ws,
                s,
                v,
                action="promote",
                to=to,
                actor=actor,
                reason=reason,
                evidence_ids=gate.evidence_ids,
                approval_ids=gate.approval_ids,
                policy_version=gate.policy_version,
                extra={
                    "tier": gate.tier,
                    "tier_evidence": gate.tier_evidence,
                    "evidence_producers": gate.evidence_producers,
                },
            )
        )
        return PromotionResult(True, gate, tuple(transitions))
