"""Gate policies: per risk tier and stage, the controls, evidence, approvals and
ownership a promotion needs. Data-driven: a stage names controls of the compliance
room's catalog (``controls:``) and/or inline evidence requirements (``evidence:``, each an
anonymous control naming any check id), so later robustness, privacy and fairness checks
plug in with no code change. The compliance room evaluates both.

Policies are versioned in the database; each new version is a ledger event.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from bastion.compliance import PLANNED_EVIDENCE_KINDS as PENDING_EVIDENCE_KINDS
from bastion.compliance import (
    Condition,
    Control,
    Scope,
    get_control,
    pending_evidence_kinds,
)
from bastion.compliance import known_evidence_kinds as _known_kinds
from bastion.compliance.interface import (
    Conditions,
    Duration,
    MaybeDuration,
    Producers,
    SelectsEvidence,
    Verdicts,
)
from bastion.core.documents import load_document
from bastion.core.errors import InputError, NotFoundError
from bastion.core.ledger import Event
from bastion.core.types import Severity, Verdict
from bastion.core.workspace import Workspace
from bastion.governance import Duty, parse_duration
from bastion.registry._rows import PolicyRow

__all__ = [
    "PENDING_EVIDENCE_KINDS",
    "ApprovalRequirement",
    "Condition",
    "EvidenceRequirement",
    "GatePolicy",
    "Scope",
    "Stage",
    "StagePolicy",
    "apply_policy_proposal",
    "current_policy",
    "known_evidence_kinds",
    "load_policy",
    "parse_policy",
    "set_policy",
]

MAX_POLICY_BYTES = 256 * 1024

# PENDING_EVIDENCE_KINDS: evidence kinds of rooms not built yet (the compliance room's
# planned kinds; parse_policy names those no registered check produces): a policy may
# name them today, and they fail closed until the evidence exists. Everything else must
# be a registered check id.


class Stage(enum.StrEnum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvidenceRequirement(SelectsEvidence, _Strict):
    kind: str = Field(min_length=3, max_length=100)
    title: str | None = None
    scope: Scope = Scope.MODEL
    verdicts: Verdicts = (Verdict.PASS,)
    max_severity: Severity | None = None
    max_age: MaybeDuration = None
    where: Conditions = ()
    #: Who may produce it: role names (viewer, engineer, security, compliance, approver,
    #: admin; ``local`` for the local administrator, who also counts as admin) and/or
    #: actor patterns (``token:abc123def456:*``, ``cli``; shell-style ``*``/``?``).
    #: Empty: anyone. Evidence from anyone else is ignored by the gate.
    producers: Producers = ()

    def to_control(self) -> Control:
        """This requirement as the anonymous control the compliance room evaluates."""
        return self._as_control(self.describe())

    def _as_control(self, title: str | None) -> Control:
        return Control(
            id=self.kind,
            title=title,
            check=self.kind,
            scope=self.scope,
            verdicts=self.verdicts,
            max_severity=self.max_severity,
            max_age=self.max_age,
            where=self.where,
            producers=self.producers,
            anonymous=True,
        )

    def describe(self) -> str:
        """Its title, or the compliance room's description of the same control."""
        return self.title or self._as_control(None).describe()


class ApprovalRequirement(_Strict):
    """A sign-off by ``count`` distinct people holding one of ``roles``, or (with
    ``board``) an approved change request of that board for this exact digest."""

    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    title: str | None = None
    roles: tuple[str, ...] = ()
    count: int = Field(1, ge=1, le=20)
    board: str | None = None
    max_age: Duration = "30d"

    @property
    def validity(self) -> timedelta:
        return parse_duration(self.max_age)

    def describe(self) -> str:
        if self.title:
            return self.title
        if self.board:
            return f"{self.kind}: approved change request of board {self.board}"
        return f"{self.kind}: {self.count} sign-off(s) by {' or '.join(self.roles) or 'anyone'}"


class StagePolicy(_Strict):
    #: Controls of the compliance catalog ('bastion control list'), evaluated first.
    controls: tuple[str, ...] = Field(default=(), max_length=100)
    evidence: tuple[EvidenceRequirement, ...] = ()
    approvals: tuple[ApprovalRequirement, ...] = ()
    raci: tuple[Duty, ...] = ()


class TierPolicy(_Strict):
    description: str = ""
    stages: dict[Stage, StagePolicy]


class GatePolicy(_Strict):
    apiVersion: str = Field(pattern=r"^bastion/v1$")
    kind: str = Field(pattern=r"^GatePolicy$")
    default_tier: int = Field(1, ge=1, le=4)
    tiers: dict[int, TierPolicy]

    def for_stage(self, tier: int, stage: Stage) -> StagePolicy | None:
        t = self.tiers.get(tier)
        return t.stages.get(stage) if t else None


def known_evidence_kinds() -> frozenset[str]:
    """Registered check ids (after loading every room's checks) plus the pending kinds."""
    return _known_kinds()


def parse_policy(text: str | bytes, filename: str = "gate policy") -> GatePolicy:
    policy = load_document(
        text,
        GatePolicy,
        what=filename,
        max_bytes=MAX_POLICY_BYTES,
        shape="a mapping with kind: GatePolicy",
    )
    known = known_evidence_kinds()
    for tier, tp in policy.tiers.items():
        if not 1 <= tier <= 4:
            raise InputError(f"{filename}: tiers.{tier}: tiers are 1 (highest risk) to 4")
        for stage, sp in tp.stages.items():
            for i, req in enumerate(sp.evidence):
                if req.kind == "threats.model" and req.max_severity is not None:
                    raise InputError(
                        f"{filename}: tiers.{tier}.stages.{stage.value}.evidence[{i}]: "
                        "max_severity on threats.model would count accepted (suppressed) "
                        "threats too; use where: ['summary.open_by_severity.high == 0']"
                    )
                if req.kind not in known:
                    raise InputError(
                        f"{filename}: tiers.{tier}.stages.{stage.value}.evidence[{i}]: unknown "
                        f"evidence kind {req.kind!r}: use a registered check id "
                        "('bastion checks list')"
                        + "".join(
                            f" or one of {', '.join(sorted(p))}"
                            for p in [pending_evidence_kinds()]
                            if p
                        )
                    )
            for i, cid in enumerate(sp.controls):
                try:
                    get_control(cid)
                except NotFoundError:
                    raise InputError(
                        f"{filename}: tiers.{tier}.stages.{stage.value}.controls[{i}]: unknown "
                        f"control {cid[:100]!r} ('bastion control list')"
                    ) from None
            if len(set(sp.controls)) != len(sp.controls):
                raise InputError(
                    f"{filename}: tiers.{tier}.stages.{stage.value}.controls: duplicate control"
                )
            kinds = [a.kind for a in sp.approvals]
            if len(set(kinds)) != len(kinds):
                raise InputError(
                    f"{filename}: tiers.{tier}.stages.{stage.value}.approvals: duplicate kind"
                )
            for a in sp.approvals:
                if not a.board and not a.roles:
                    raise InputError(
                        f"{filename}: tiers.{tier}.stages.{stage.value}.approvals ({a.kind}): "
                        "give roles (who may sign) or a board"
                    )
    if policy.default_tier not in policy.tiers:
        raise InputError(f"{filename}: default_tier {policy.default_tier} has no entry in tiers")
    return policy


def load_policy(path: Path) -> GatePolicy:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_POLICY_BYTES:
            raise InputError(f"{path} is larger than {MAX_POLICY_BYTES} bytes")
        return parse_policy(path.read_bytes(), str(path))
    except OSError as exc:
        raise InputError(f"cannot read gate policy {path}: {exc.strerror}") from None


def _digest(body: dict[str, Any]) -> str:
    raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def set_policy(
    ws: Workspace,
    policy: GatePolicy,
    *,
    actor: str = "cli",
    approval: Mapping[str, Any] | None = None,
) -> tuple[int, bool]:
    """Store the policy as a new version unless it is unchanged. Returns (version, changed).

    Over the API a gate policy is a two-person change: one privileged person proposes it
    (``propose_change``), another approves it (``approve_change``), which calls this with
    ``approval`` (proposal, proposed_by, approved_by). A call without ``approval`` is the
    local administrator's break-glass path (CLI, demo); the ledger event says which."""
    body = policy.model_dump(mode="json")
    digest = _digest(body)
    with ws.db.session() as s:
        cur = s.scalars(select(PolicyRow).order_by(PolicyRow.version.desc())).first()
        if cur is not None and cur.digest == digest:
            return cur.version, False
        version = (cur.version if cur else 0) + 1
        s.add(
            PolicyRow(
                version=version, digest=digest, body=body, actor=actor, created_at=datetime.now(UTC)
            )
        )
        s.flush()
        ws.ledger.append(
            [
                Event(
                    "registry.gate_policy_set",
                    {
                        "version": version,
                        "digest": digest,
                        "previous": cur.version if cur else None,
                        "approval": dict(approval) if approval else None,
                        "break_glass": approval is None,
                    },
                    actor,
                )
            ],
            session=s,
        )
        return version, True


def apply_policy_proposal(
    ws: Workspace, body: dict[str, Any], actor: str, approval: dict[str, Any]
) -> dict[str, Any]:
    """What an approved ``gate_policy`` proposal does (the governance room's two-person rule)."""
    version, changed = set_policy(
        ws, parse_policy(json.dumps(body), "proposed gate policy"), actor=actor, approval=approval
    )
    return {"version": version, "changed": changed}


def current_policy(ws: Workspace) -> tuple[int, GatePolicy]:
    with ws.db.session() as s:
        cur = s.scalars(select(PolicyRow).order_by(PolicyRow.version.desc())).first()
        if cur is None:
            raise NotFoundError(
                "no gate policy: set one with 'bastion gate policy set FILE' "
                "(see examples/credit-scoring/gate-policy.yaml)"
            )
        return cur.version, GatePolicy.model_validate(cur.body)
