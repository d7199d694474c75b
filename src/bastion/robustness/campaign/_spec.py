"""The campaign file (``kind: RedTeamCampaign``): targets, attacks with their parameters,
budgets and pass thresholds. Validated before any work starts; paths are relative to the
file."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bastion.core.documents import load_document
from bastion.robustness.interface import ATTACKS, RobustnessError

__all__ = [
    "MAX_CAMPAIGN_BYTES",
    "AttackEntry",
    "Budget",
    "Campaign",
    "TargetEntry",
    "Threshold",
    "load_campaign",
    "parse_campaign",
]

MAX_CAMPAIGN_BYTES = 256 * 1024
_ID = r"^[a-z][a-z0-9_-]{0,39}$"
#: Metrics a threshold may name (per attack), besides ``robust_accuracy_at_eps_*``.
METRICS = (
    "clean_accuracy",
    "robust_accuracy",
    "attack_success_rate",
    "mean_minimal_perturbation",
)
_AT = re.compile(r"^robust_accuracy_at_eps_[0-9_em]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetEntry(_Strict):
    """A model file (``model:``), or a black-box HTTP endpoint (``endpoint:`` with its
    request ``template:``, hosts other than loopback in ``allow_hosts``)."""

    id: str = Field(pattern=_ID)
    model: str | None = Field(default=None, min_length=1, max_length=1000)
    endpoint: str | None = Field(default=None, min_length=1, max_length=2000)
    template: str | None = Field(default=None, min_length=1, max_length=1000)
    allow_hosts: tuple[str, ...] = Field(default=(), max_length=20)
    query_budget: int = Field(default=1_000_000, ge=1, le=10_000_000)
    concurrency: int = Field(default=4, ge=1, le=64)
    data: str = Field(min_length=1, max_length=1000)
    label: str = Field(default="label", max_length=200)
    samples: int | None = Field(default=None, ge=1, le=100_000)
    allow: str | None = Field(default=None, max_length=1000)
    #: the evidence subject's name (default: the target id)
    name: str | None = Field(default=None, max_length=300)

    @model_validator(mode="after")
    def _one_kind(self) -> TargetEntry:
        if (self.model is None) == (self.endpoint is None):
            raise ValueError(f"target {self.id}: give either model: or endpoint: (not both)")
        if (self.endpoint is None) != (self.template is None):
            raise ValueError(f"target {self.id}: endpoint: and template: go together")
        return self


class AttackEntry(_Strict):
    id: str = Field(pattern=_ID)
    attack: str
    norm: Literal["linf", "l2"] = "linf"
    eps: tuple[float, ...] = Field(min_length=1, max_length=50)
    steps: int = Field(default=40, ge=1, le=10_000)
    step_size: float | None = Field(default=None, gt=0)
    random_start: bool = True
    queries: int = Field(default=1000, ge=1, le=1_000_000)
    clip: tuple[float, float] = (0.0, 1.0)
    cross_check: int = Field(default=0, ge=0, le=10_000)
    #: expectation over transformation: gradient samples per step (None: 16 when random)
    eot: int | None = Field(default=None, ge=1, le=1000)

    @model_validator(mode="after")
    def _known(self) -> AttackEntry:
        if self.attack not in ATTACKS:
            raise ValueError(f"unknown attack {self.attack!r}; known: {', '.join(sorted(ATTACKS))}")
        if list(self.eps) != sorted(set(self.eps)) or self.eps[0] <= 0:
            raise ValueError("eps must be positive and strictly increasing")
        if self.clip[0] >= self.clip[1]:
            raise ValueError("clip must be [min, max] with min < max")
        return self


class Threshold(_Strict):
    """``metric`` is ``ATTACK_ID.METRIC``; the campaign fails when it is below ``min`` or
    above ``max`` on any target (or missing: a withheld robust accuracy fails closed)."""

    metric: str = Field(max_length=120)
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError(f"threshold {self.metric}: give min or max")
        attack, _, metric = self.metric.partition(".")
        if not attack or not (metric in METRICS or _AT.match(metric)):
            raise ValueError(
                f"threshold metric {self.metric!r} is not ATTACK_ID.METRIC with METRIC one of "
                f"{', '.join(METRICS)} or robust_accuracy_at_eps_X"
            )
        return self

    @property
    def attack(self) -> str:
        return self.metric.partition(".")[0]

    @property
    def name(self) -> str:
        return self.metric.partition(".")[2]


class Budget(_Strict):
    #: the campaign is refused before it starts when its planned work exceeds these
    max_tasks: int = Field(default=200, ge=1, le=10_000)
    max_attack_steps: int = Field(default=50_000_000, ge=1)


class Campaign(_Strict):
    kind: Literal["RedTeamCampaign"]
    name: str = Field(pattern=_ID)
    description: str = Field(default="", max_length=4000)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    targets: tuple[TargetEntry, ...] = Field(min_length=1, max_length=50)
    attacks: tuple[AttackEntry, ...] = Field(min_length=1, max_length=50)
    thresholds: tuple[Threshold, ...] = ()
    budget: Budget = Budget()
    #: the directory the file's relative paths start from (set by load_campaign)
    base: str = Field(default=".", exclude=True)
    digest: str = Field(default="", exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> Campaign:
        for what, ids in (("target", [t.id for t in self.targets]),
                          ("attack", [a.id for a in self.attacks])):  # fmt: skip
            if len(set(ids)) != len(ids):
                raise ValueError(f"{what} ids must be unique")
        known = {a.id for a in self.attacks}
        for th in self.thresholds:
            if th.attack not in known:
                raise ValueError(f"threshold {th.metric}: no attack with id {th.attack!r}")
        tasks = len(self.targets) * len(self.attacks)
        if tasks > self.budget.max_tasks:
            raise ValueError(f"{tasks} tasks exceed the budget's max_tasks {self.budget.max_tasks}")
        for a in self.attacks:
            per = a.steps if a.attack == "pgd" else a.queries if a.attack != "fgsm" else 1
            rows = max((t.samples or 1000) for t in self.targets)
            if per * rows * len(a.eps) > self.budget.max_attack_steps:
                raise ValueError(
                    f"attack {a.id}: samples x steps (or queries) x eps exceeds the budget's "
                    f"max_attack_steps {self.budget.max_attack_steps:,}"
                )
        return self

    def path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() else Path(self.base) / p

    def task_params(self, target: TargetEntry, attack: AttackEntry) -> dict[str, Any]:
        """What one (target, attack) task hands to the robustness evaluation."""
        endpoint = {
            "endpoint": target.endpoint,
            "template": str(self.path(target.template)) if target.template else None,
            "allow_hosts": list(target.allow_hosts),
            "query_budget": target.query_budget,
            "concurrency": target.concurrency,
        }
        return {
            **(endpoint if target.endpoint else {}),
            "path": str(self.path(target.model)) if target.model else None,
            "data": str(self.path(target.data)),
            "label": target.label,
            "allow": str(self.path(target.allow)) if target.allow else None,
            "samples": target.samples,
            "attack": attack.attack,
            "norm": attack.norm,
            "eps": list(attack.eps),
            "steps": attack.steps,
            "step_size": attack.step_size,
            "random_start": attack.random_start,
            "queries": attack.queries,
            "seed": self.seed,
            "cross_check": attack.cross_check,
            "eot": attack.eot,
            "clip_min": attack.clip[0],
            "clip_max": attack.clip[1],
        }


def parse_campaign(text: str | bytes, base: Path | str = ".") -> Campaign:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    doc = load_document(
        raw,
        Campaign,
        what="campaign",
        max_bytes=MAX_CAMPAIGN_BYTES,
        shape="a mapping with kind: RedTeamCampaign",
    )
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    return doc.model_copy(update={"base": str(base), "digest": digest})


def load_campaign(path: Path) -> Campaign:
    try:
        size = path.stat().st_size
        if size > MAX_CAMPAIGN_BYTES:
            raise RobustnessError(f"campaign {path}: {size} bytes, over {MAX_CAMPAIGN_BYTES}")
        text = path.read_bytes()
    except OSError as exc:
        raise RobustnessError(f"cannot read campaign {path}: {exc.strerror}") from None
    return parse_campaign(text, path.resolve().parent)
