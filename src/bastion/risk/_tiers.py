"""Risk tiers: standardized criteria from the manifest's system metadata give tier 1-4.

The rule table lives in a versioned YAML policy shipped with Bastion (``data/tiers.yaml``)
and replaceable by the user's own file, because appetite is an organisation's decision,
not ours. Each tier carries its risk appetite (maximum acceptable P90 annual loss) and the
controls and approvals that gates require later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bastion.core.errors import InputError
from bastion.manifest import AutonomyLevel, Classification, DecisionImpact, SystemManifest

__all__ = [
    "DEFAULT_POLICY",
    "TierAssignment",
    "TierPolicy",
    "TierSpec",
    "load_tier_policy",
    "rate_system",
]

DEFAULT_POLICY = Path(__file__).parent / "data" / "tiers.yaml"
MAX_POLICY_BYTES = 256 * 1024
_CFG = ConfigDict(extra="forbid", frozen=True)
_CRITERIA = ("decision_impact", "data_sensitivity", "autonomy_level", "regulatory_scope", "total")


class _Criteria(BaseModel):
    model_config = _CFG
    decision_impact: dict[DecisionImpact, int]
    data_sensitivity: dict[Classification, int]
    autonomy_level: dict[AutonomyLevel, int]
    regulatory_scope: int = Field(ge=0)

    @model_validator(mode="after")
    def _complete(self) -> _Criteria:
        for name, enum_ in (
            ("decision_impact", DecisionImpact),
            ("data_sensitivity", Classification),
            ("autonomy_level", AutonomyLevel),
        ):
            missing = [e.value for e in enum_ if e not in getattr(self, name)]
            if missing:
                raise ValueError(f"criteria.{name} has no points for: {', '.join(missing)}")
        return self


class _Rule(BaseModel):
    model_config = _CFG
    tier: int = Field(ge=1, le=4)
    when: dict[
        Literal[
            "decision_impact", "data_sensitivity", "autonomy_level", "regulatory_scope", "total"
        ],
        int,
    ]
    why: str = ""


class TierSpec(BaseModel):
    """What a tier demands: appetite, controls, approvals, longest acceptance."""

    model_config = _CFG
    tier: int = Field(ge=1, le=4)
    name: str
    appetite_p90: float = Field(gt=0)
    acceptance_max_days: int = Field(ge=1, le=3650)
    required_controls: list[str] = Field(default_factory=list)
    required_approvals: list[str] = Field(default_factory=list)


class TierPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    api_version: Literal["bastion/v1"] = Field(alias="apiVersion")
    kind: Literal["RiskTierPolicy"]
    version: str = Field(min_length=1)
    currency: str = "USD"
    criteria: _Criteria
    rules: list[_Rule] = Field(min_length=1)
    tiers: list[TierSpec] = Field(min_length=4, max_length=4)

    @model_validator(mode="after")
    def _closed(self) -> TierPolicy:
        if sorted(t.tier for t in self.tiers) != [1, 2, 3, 4]:
            raise ValueError("tiers must define each of tiers 1, 2, 3 and 4 once")
        if self.rules[-1].when:
            raise ValueError("the last rule must have an empty 'when' so every system gets a tier")
        return self

    def spec(self, tier: int) -> TierSpec:
        return next(t for t in self.tiers if t.tier == tier)


def load_tier_policy(path: str | Path | None = None) -> TierPolicy:
    """The shipped policy, or the user's file (validated; refused with file and field named)."""
    p = Path(path) if path is not None else DEFAULT_POLICY
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read tier policy: {exc.strerror}") from None
    if len(data) > MAX_POLICY_BYTES:
        raise InputError(f"{p}: tier policy above {MAX_POLICY_BYTES} bytes; fix: trim it")
    try:
        doc = yaml.safe_load(data)
        return TierPolicy.model_validate(doc)
    except yaml.YAMLError as exc:
        raise InputError(f"{p}: not valid YAML: {exc}; fix: correct the syntax") from None
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(x) for x in e["loc"]) or "top level"
        raise InputError(
            f"{p}: tier policy entry '{loc}': {e['msg']}; fix: see docs/risk.md (risk tiers)"
        ) from None


@dataclass(frozen=True)
class TierAssignment:
    system_id: str
    tier: int
    name: str
    scores: dict[str, int]
    rule: int
    why: str
    policy_version: str
    spec: TierSpec

    @property
    def appetite_p90(self) -> float:
        return self.spec.appetite_p90

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system_id,
            "tier": self.tier,
            "name": self.name,
            "scores": dict(self.scores),
            "rule": self.rule,
            "why": self.why,
            "policy_version": self.policy_version,
            "appetite_p90": self.spec.appetite_p90,
            "acceptance_max_days": self.spec.acceptance_max_days,
            "required_controls": list(self.spec.required_controls),
            "required_approvals": list(self.spec.required_approvals),
        }


def rate_system(manifest: SystemManifest, policy: TierPolicy | None = None) -> TierAssignment:
    """Score the criteria and return the first matching rule's tier."""
    pol = policy or load_tier_policy()
    info = manifest.system
    c = pol.criteria
    scores = {
        "decision_impact": max(c.decision_impact[d] for d in info.decision_impact),
        "data_sensitivity": c.data_sensitivity[info.data_sensitivity],
        "autonomy_level": c.autonomy_level[info.autonomy_level],
        "regulatory_scope": c.regulatory_scope if info.regulatory_scope else 0,
    }
    scores["total"] = sum(scores.values())
    for i, rule in enumerate(pol.rules):
        if all(scores[k] >= v for k, v in rule.when.items()):
            spec = pol.spec(rule.tier)
            return TierAssignment(
                info.id, rule.tier, spec.name, scores, i, rule.why, pol.version, spec
            )
    raise AssertionError("unreachable: the last rule matches everything")  # pragma: no cover
