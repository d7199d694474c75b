"""Gate parts every other gate module uses: the clock, stage parsing, the result line
of a requirement, the model's risk tier and when a rollback revoked a version's approvals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bastion.core.errors import InputError
from bastion.core.types import Evidence
from bastion.core.workspace import Workspace
from bastion.registry._policy import Stage
from bastion.registry._rows import ModelRow

__all__ = ["GATED", "GATED_VALUES", "RequirementResult", "revoked_at"]

GATED = (Stage.STAGING, Stage.PRODUCTION)
GATED_VALUES = frozenset(x.value for x in GATED)


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


@dataclass(frozen=True)
class RequirementResult:
    """One line of a gate: what it checks, whether it holds, why, and what would fix it."""

    id: str
    kind: str
    description: str
    satisfied: bool
    reason: str
    remedy: str | None = None
    evidence_ids: tuple[str, ...] = ()
    approval_ids: tuple[str, ...] = ()
    #: Who produced each of ``evidence_ids`` (its actor), in the same order.
    producers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "description": self.description,
            "satisfied": self.satisfied,
            "reason": self.reason,
            "remedy": self.remedy,
            "evidence_ids": list(self.evidence_ids),
            "approval_ids": list(self.approval_ids),
            "evidence_producers": dict(zip(self.evidence_ids, self.producers, strict=False)),
        }


def _tier(ws: Workspace, m: ModelRow, default: int) -> tuple[int, str, Evidence | None]:
    """Explicit model tier, else the system's trusted risk.tier evidence, else the policy's
    default tier (fail closed: the example policy defaults to tier 1).

    Trusted means (``bastion.risk.trusted_tier``): a rating of the system's CURRENT
    inventory manifest, by the local administrator or an admin/approver token with MFA,
    that still matches its ledgered digest. Other ratings are ignored, and the source says
    why."""
    if m.tier is not None:
        return m.tier, "model registration", None
    if not m.system_id:
        return default, "policy default_tier (the model belongs to no system)", None
    from bastion.risk import RiskTierCheck, trusted_tier

    ev, notes = trusted_tier(ws, m.system_id)
    why = f" (ignored: {'; '.join(notes[:5])})" if notes else ""
    if ev is not None:
        tier = RiskTierCheck.read(ev).tier
        return tier, f"{RiskTierCheck.id} evidence {ev.id} by {ev.actor}{why}", ev
    return default, f"policy default_tier{why}", None


def revoked_at(gate_passed: dict[str, Any]) -> datetime | None:
    """When a rollback away from this version revoked its approvals (None if never)."""
    rec = gate_passed.get("revoked")
    if not isinstance(rec, dict) or not rec.get("at"):
        return None
    return _utc(datetime.fromisoformat(str(rec["at"])))


def _stage(stage: Stage | str) -> Stage:
    try:
        return Stage(stage)
    except ValueError:
        raise InputError(
            f"unknown stage {stage!r} (expected one of: {', '.join(x.value for x in Stage)})"
        ) from None
