"""Promotion gates: evaluate a version against its tier's policy, record approvals with
separation of duties and MFA, promote or refuse, and roll back to a known-good version.

Every decision is a ledger event; a promotion records the evidence and approvals it
relied on. Stage changes of one model are serialised by a lock on its row.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bastion.access import Permission, Principal, list_tokens
from bastion.core.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from bastion.core.evidence import EvidenceQuery
from bastion.core.ledger import Event
from bastion.core.types import Evidence, Verdict
from bastion.core.workspace import Workspace
from bastion.governance import (
    CrStatus,
    approved_change_request,
    get_board,
    get_person,
    raci_for,
    register_conflict_check,
    tally,
)
from bastion.registry._policy import (
    ApprovalRequirement,
    EvidenceRequirement,
    Scope,
    Stage,
    current_policy,
)
from bastion.registry._rows import ApprovalRow, ModelRow, RequestRow, VersionRow
from bastion.registry._store import (
    Transition,
    VersionInfo,
    find_version,
    get_version,
    lock_model,
    record_transition,
    version_info,
)

__all__ = [
    "Approval",
    "GateResult",
    "PromotionResult",
    "RequirementResult",
    "RollbackHook",
    "approve",
    "evaluate_gate",
    "list_approvals",
    "list_refusals",
    "pending_promotions",
    "promote",
    "register_rollback_hook",
    "request_promotion",
    "rollback",
    "rollback_to_last_good",
]


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


@dataclass(frozen=True)
class Approval:
    id: str
    model: str
    version: str
    digest: str
    stage: str
    kind: str
    approver: str
    approver_roles: tuple[str, ...]
    comment: str | None
    created_at: datetime
    expires_at: datetime
    ledger_seq: int

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or _now())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "digest": self.digest,
            "stage": self.stage,
            "kind": self.kind,
            "approver": self.approver,
            "approver_roles": list(self.approver_roles),
            "comment": self.comment,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "expired": self.expired(),
            "ledger_seq": self.ledger_seq,
        }


def _approval(a: ApprovalRow, v: VersionRow) -> Approval:
    return Approval(
        a.id,
        v.model_name,
        v.version,
        a.digest,
        a.stage,
        a.kind,
        a.approver,
        tuple(a.approver_roles),
        a.comment,
        _utc(a.created_at),
        _utc(a.expires_at),
        a.ledger_seq,
    )


# -- evaluation ----------------------------------------------------------------------------


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
    from bastion.risk import trusted_tier

    ev, notes = trusted_tier(ws, m.system_id)
    why = f" (ignored: {'; '.join(notes[:5])})" if notes else ""
    if ev is not None:
        return int(ev.data["tier"]), f"risk.tier evidence {ev.id} by {ev.actor}{why}", ev
    return default, f"policy default_tier{why}", None


def _system_digest(ws: Workspace, system_id: str) -> str | None:
    from bastion.inventory import get_system

    try:
        return get_system(ws, system_id).digest
    except NotFoundError:
        return None


@dataclass
class _Producers:
    """Who produced evidence, by role: a token actor ``token:<id>:<name>`` has its token's
    role (from the access room's token table; a revoked or unknown token has none); any
    other actor (``cli``, ``system``, ``demo``, in-process callers) is the local
    administrator, role ``admin`` (and ``local``). Read once per gate evaluation."""

    ws: Workspace
    _tokens: dict[str, Any] | None = None

    def role(self, actor: str) -> str | None:
        if not actor.startswith("token:"):
            return "local"
        if self._tokens is None:
            self._tokens = {t.id: t for t in list_tokens(self.ws)}
        tid = actor.split(":", 2)[1] if actor.count(":") >= 2 else ""
        tok = self._tokens.get(tid)
        return None if tok is None or tok.revoked else str(tok.role.value)

    def allowed(self, req: EvidenceRequirement, actor: str) -> bool:
        return req.producer_allowed(actor, self.role(actor))

    def describe(self, actor: str) -> str:
        role = self.role(actor)
        if role == "local":
            return f"{actor} (local administrator)"
        return f"{actor} ({role + ' token' if role else 'unknown or revoked token'})"


_FETCH = 20  # evidence looked at per requirement when producers filter it


def _check_evidence(
    ws: Workspace,
    v: VersionInfo,
    req: EvidenceRequirement,
    now: datetime,
    earlier: Sequence[tuple[str, str]] = (),
    who: _Producers | None = None,
) -> RequirementResult:
    """``earlier``: (version, digest) of the model's other versions, so evidence about one
    of them is named as stale rather than simply missing.

    Only evidence from a producer the requirement allows counts (all, without
    ``producers``); the evidence relied on must still match its ledgered digest."""
    rid = f"evidence:{req.kind}" + (":system" if req.scope is Scope.SYSTEM else "")
    desc = req.describe()
    who = who or _Producers(ws)
    limit = _FETCH if req.producers else 1

    def bad(
        reason: str, remedy: str, ids: tuple[str, ...] = (), by: tuple[str, ...] = ()
    ) -> RequirementResult:
        return RequirementResult(rid, "evidence", desc, False, reason, remedy, ids, (), by)

    if req.scope is Scope.MODEL:
        latest = ws.evidence.list(
            EvidenceQuery(check_id=req.kind, subject_digest=v.digest, limit=limit)
        )
        subject = f"{v.ref} ({v.digest[:19]}…)"
        run_hint = f"run {req.kind} on {v.ref}"
        if not latest:
            stale = _stale_evidence(ws, req.kind, earlier)
            if stale is not None:
                e_old, old_version = stale
                return bad(
                    f"stale: {req.kind} evidence {e_old.id[:8]} was produced for digest "
                    f"{(e_old.subject.digest or '')[:19]}… of version {old_version}, not this "
                    f"version's {v.digest[:19]}…",
                    run_hint + " again on the current files",
                    (e_old.id,),
                    (e_old.actor,),
                )
    else:
        if not v.system_id:
            return bad(
                f"{v.model} belongs to no system, so {req.kind} on its system cannot be found",
                "register the model with --system SYSTEM_ID",
            )
        sdigest = _system_digest(ws, v.system_id)
        if sdigest is None:
            return bad(
                f"system {v.system_id} is not in the inventory",
                "import its manifest: bastion inventory import MANIFEST",
            )
        subject = f"system {v.system_id} ({sdigest[:19]}…)"
        run_hint = f"run {req.kind} on system {v.system_id}"
        latest = ws.evidence.list(
            EvidenceQuery(
                check_id=req.kind,
                subject_kind="system",
                subject_ref=v.system_id,
                subject_digest=sdigest,
                limit=limit,
            )
        )
    if not latest:
        return bad(f"no {req.kind} evidence about {subject}", run_hint)
    allowed = [x for x in latest if who.allowed(req, x.actor)]
    if not allowed:
        x = latest[0]
        return bad(
            f"no {req.kind} evidence about {subject} from an allowed producer "
            f"({', '.join(req.producers)}); ignored {x.id[:8]} by {who.describe(x.actor)}"
            + (f" and {len(latest) - 1} more" if len(latest) > 1 else ""),
            f"{run_hint} as one of: {', '.join(req.producers)}",
        )
    e: Evidence = allowed[0]
    ids, by = (e.id,), (e.actor,)
    if not ws.evidence.verify_digest(e):
        return bad(
            f"{req.kind} evidence {e.id} does not match its ledgered digest: its stored row "
            "was altered after it was recorded, so it cannot count",
            "investigate with 'bastion ledger verify --deep', then " + run_hint + " again",
            ids,
            by,
        )
    if e.verdict not in req.verdicts:
        return bad(
            f"latest {req.kind} evidence {e.id} has verdict {e.verdict.value} "
            f"(needs {'/'.join(x.value for x in req.verdicts)})",
            f"fix the findings and {run_hint} again",
            ids,
            by,
        )
    if req.max_severity is not None:
        over = [f for f in e.findings if f.severity.rank > req.max_severity.rank]
        if over:
            worst = max(over, key=lambda f: f.severity.rank)
            return bad(
                f"{len(over)} finding(s) above {req.max_severity.value} in {e.id}, worst "
                f"{worst.severity.value} {worst.rule_id}: {worst.title}",
                f"mitigate them and {run_hint} again",
                ids,
                by,
            )
    age = req.max_age_delta
    if age is not None and now - e.created_at > age:
        return bad(
            f"latest {req.kind} evidence {e.id} is from {e.created_at:%Y-%m-%d %H:%M}Z, "
            f"older than {req.max_age}",
            run_hint + " again",
            ids,
            by,
        )
    for cond in req.conditions:
        ok, seen = cond.holds(e.data)
        if not ok:
            return bad(
                f"condition '{cond.text}' does not hold in {e.id}: {seen}",
                f"produce {req.kind} evidence where {cond.text}",
                ids,
                by,
            )
    return RequirementResult(
        rid,
        "evidence",
        desc,
        True,
        f"{e.id}: {e.verdict.value} on {e.created_at:%Y-%m-%d} by {e.actor}",
        None,
        ids,
        (),
        by,
    )


def _stale_evidence(
    ws: Workspace, kind: str, earlier: Sequence[tuple[str, str]]
) -> tuple[Evidence, str] | None:
    """The newest ``kind`` evidence about any earlier digest of the model."""
    found: list[tuple[Evidence, str]] = []
    for version, digest in earlier:
        ev = ws.evidence.list(EvidenceQuery(check_id=kind, subject_digest=digest, limit=1))
        if ev:
            found.append((ev[0], version))
    return max(found, key=lambda x: x[0].created_at) if found else None


def revoked_at(gate_passed: dict[str, Any]) -> datetime | None:
    """When a rollback away from this version revoked its approvals (None if never)."""
    rec = gate_passed.get("revoked")
    if not isinstance(rec, dict) or not rec.get("at"):
        return None
    return _utc(datetime.fromisoformat(str(rec["at"])))


def _excluded(v: VersionInfo, requester: str | None) -> set[str]:
    """Who may not approve: whoever requested the promotion and whoever authored it."""
    return set(v.authors) | {v.created_by} | ({requester} if requester else set())


def _check_approval(
    ws: Workspace,
    v: VersionInfo,
    stage: Stage,
    req: ApprovalRequirement,
    approvals: list[Approval],
    requester: str | None,
    now: datetime,
) -> RequirementResult:
    rid = f"approval:{req.kind}"
    desc = req.describe()
    revoked = revoked_at(v.gate_passed)
    if req.board:
        cr = approved_change_request(ws, v.ref, v.digest, req.board)
        if cr is not None and revoked is not None and (cr.decided_at or cr.created_at) <= revoked:
            return RequirementResult(
                rid,
                "approval",
                desc,
                False,
                f"change request {cr.id} was decided before {v.ref} was rolled back from "
                f"production on {revoked:%Y-%m-%d %H:%M}Z: it no longer counts",
                f"open a new change request for {v.ref} and collect the board's votes again",
            )
        if cr is None:
            return RequirementResult(
                rid,
                "approval",
                desc,
                False,
                f"no approved change request of board {req.board} for {v.ref} at this digest",
                f"open one: bastion governance cr open --target {v.ref} --digest {v.digest} "
                f"--board {req.board}, and collect the board's votes",
            )
        authors = set(v.authors) | {v.created_by}
        conflicted = sorted({x["voter"] for x in cr.votes if x["voter"] in authors})
        if conflicted:
            status, summary = tally(get_board(ws, cr.board_id), cr.votes, exclude=authors)
            if status is not CrStatus.APPROVED:
                return RequirementResult(
                    rid,
                    "approval",
                    desc,
                    False,
                    f"change request {cr.id} was approved with the vote of "
                    f"{', '.join(conflicted)}, who authored {v.ref}; without it: "
                    f"{summary['approvals']} approval(s) of quorum {summary['quorum']}"
                    + (
                        f", missing role(s) {', '.join(summary['missing_roles'])}"
                        if summary["missing_roles"]
                        else ""
                    ),
                    "open a new change request and collect votes from members who did not "
                    f"author {v.ref}",
                )
        decided = cr.decided_at or cr.created_at
        if now - decided > req.validity:
            return RequirementResult(
                rid,
                "approval",
                desc,
                False,
                f"change request {cr.id} was decided on {decided:%Y-%m-%d}, over {req.max_age} ago",
                "ask the board to decide again",
            )
        return RequirementResult(
            rid,
            "approval",
            desc,
            True,
            f"change request {cr.id} approved on {decided:%Y-%m-%d} by "
            + ", ".join(f"{x['voter']} ({x['role']})" for x in cr.votes if x["vote"] == "approve")
            + (f"; conditions: {'; '.join(cr.conditions)}" if cr.conditions else ""),
            approval_ids=(f"cr:{cr.id}",),
        )
    excluded = _excluded(v, requester)
    mine = [a for a in approvals if a.kind == req.kind and a.stage == stage.value]
    good = [
        a
        for a in mine
        if not a.expired(now)
        and a.digest == v.digest
        and a.approver not in excluded
        and (revoked is None or a.created_at > revoked)
    ]
    if len(good) >= req.count:
        return RequirementResult(
            rid,
            "approval",
            desc,
            True,
            "approved by " + ", ".join(a.approver for a in good[: req.count]),
            approval_ids=tuple(a.id for a in good[: req.count]),
        )
    notes = [
        f"{a.approver}'s approval expired {a.expires_at:%Y-%m-%d %H:%M}Z"
        for a in mine
        if a.expired(now)
    ]
    notes += [
        f"{a.approver} is excluded (requester or author)" for a in mine if a.approver in excluded
    ]
    if revoked is not None:
        notes += [
            f"{a.approver}'s approval predates the rollback from production on "
            f"{revoked:%Y-%m-%d %H:%M}Z"
            for a in mine
            if a.created_at <= revoked
        ]
    return RequirementResult(
        rid,
        "approval",
        desc,
        False,
        f"{len(good)} of {req.count} valid approval(s)"
        + ("; " + "; ".join(notes) if notes else ""),
        f"a person with role {' or '.join(req.roles)} who neither authored nor requested "
        f"{v.ref} approves it with MFA: bastion model approve {v.model} {v.version} "
        f"--kind {req.kind} --stage {stage.value}",
        approval_ids=tuple(a.id for a in good),
    )


def _approvals(s: Session, v: VersionRow) -> list[Approval]:
    return [
        _approval(a, v)
        for a in s.scalars(
            select(ApprovalRow)
            .where(ApprovalRow.version_id == v.id)
            .order_by(ApprovalRow.created_at)
        )
    ]


def _requester(s: Session, v: VersionRow, stage: Stage) -> str | None:
    r = s.scalars(
        select(RequestRow).where(RequestRow.version_id == v.id, RequestRow.stage == stage.value)
    ).first()
    return r.requested_by if r else None


def _evaluate(
    ws: Workspace, s: Session, m: ModelRow, v: VersionRow, stage: Stage, now: datetime
) -> GateResult:
    pversion, policy = current_policy(ws)
    tier, source, tier_ev = _tier(ws, m, policy.default_tier)
    info = version_info(v, m)
    by_whom = _Producers(ws)
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
        reqs.extend(_check_evidence(ws, info, ereq, now, earlier, by_whom) for ereq in sp.evidence)
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


def _stage(stage: Stage | str) -> Stage:
    try:
        return Stage(stage)
    except ValueError:
        raise InputError(
            f"unknown stage {stage!r} (expected one of: {', '.join(x.value for x in Stage)})"
        ) from None


# -- requests and approvals ----------------------------------------------------------------


def request_promotion(
    ws: Workspace, name: str, version: str, stage: Stage | str, *, actor: str
) -> str:
    """Record who asks for a promotion (the first request for a version and stage holds);
    that person may not approve it. Returns the requester."""
    stage = _stage(stage)
    with ws.db.session() as s:
        lock_model(s, name)
        _m, v = find_version(s, name, version)
        return _ensure_request(ws, s, v, stage, actor)


def _ensure_request(ws: Workspace, s: Session, v: VersionRow, stage: Stage, actor: str) -> str:
    existing = _requester(s, v, stage)
    if existing is not None:
        return existing
    s.add(
        RequestRow(
            id=str(uuid.uuid4()),
            version_id=v.id,
            stage=stage.value,
            requested_by=actor,
            created_at=_now(),
        )
    )
    s.flush()
    ws.ledger.append(
        [
            Event(
                "registry.promotion_requested",
                {
                    "model": v.model_name,
                    "version": v.version,
                    "digest": v.digest,
                    "stage": stage.value,
                },
                actor,
            )
        ],
        session=s,
    )
    return actor


def approve(
    ws: Workspace,
    name: str,
    version: str,
    approver: Principal,
    *,
    kind: str = "security_signoff",
    stage: Stage | str = Stage.PRODUCTION,
    comment: str | None = None,
    now: datetime | None = None,
) -> Approval:
    """Record one approval. Refused, with nothing changed, when: the approver lacks the
    approve permission or MFA, is not a governance person with a role the policy names,
    authored or requested the version, or has already approved it (and that approval has
    not expired); or when the policy asks for no such approval."""
    stage = _stage(stage)
    if not approver.can(Permission.APPROVE):
        raise PermissionDeniedError(f"role {approver.role.value} may not approve promotions")
    if not approver.mfa_verified:
        raise PermissionDeniedError(
            "approvals need multi-factor authentication: give a current TOTP code"
        )
    now = now or _now()
    pversion, policy = current_policy(ws)
    person = get_person(ws, approver.name)
    with ws.db.session() as s:
        m = lock_model(s, name)
        m, v = find_version(s, name, version)
        # The version row too: concurrent approvals of one version queue here.
        s.execute(
            update(VersionRow).where(VersionRow.id == v.id).values(lock_seq=VersionRow.lock_seq + 1)
        )
        tier, _src, _ev = _tier(ws, m, policy.default_tier)
        sp = policy.for_stage(tier, stage)
        req = next(
            (a for a in (sp.approvals if sp else ()) if a.kind == kind and not a.board), None
        )
        if req is None:
            raise InputError(
                f"gate policy v{pversion} asks for no {kind!r} sign-off for tier {tier} "
                f"{stage.value} (board decisions are votes on change requests)"
            )
        roles = [r for r in person.roles if r in req.roles]
        if not roles:
            raise PermissionDeniedError(
                f"{person.id} has role(s) {', '.join(person.roles)}; a {kind} needs "
                f"{' or '.join(req.roles)}"
            )
        info = version_info(v, m)
        requester = _requester(s, v, stage)
        if approver.name in set(info.authors) | {info.created_by}:
            raise PermissionDeniedError(
                f"{approver.name} authored {info.ref} and cannot approve it (separation of duties)"
            )
        if approver.name == requester:
            raise PermissionDeniedError(
                f"{approver.name} requested the promotion of {info.ref} and cannot approve it "
                "(separation of duties)"
            )
        existing = s.scalars(
            select(ApprovalRow).where(
                ApprovalRow.version_id == v.id,
                ApprovalRow.stage == stage.value,
                ApprovalRow.kind == kind,
                ApprovalRow.approver == approver.name,
            )
        ).first()
        revoked = revoked_at(v.gate_passed)
        if (
            existing is not None
            and _utc(existing.expires_at) > now
            and (revoked is None or _utc(existing.created_at) > revoked)
        ):
            raise ConflictError(
                f"{approver.name} has already approved {info.ref} ({kind}, {stage.value}) "
                f"until {_utc(existing.expires_at):%Y-%m-%d %H:%M}Z"
            )
        renew = existing is not None
        if existing is not None:
            s.delete(existing)
            s.flush()
        aid = str(uuid.uuid4())
        expires = now + req.validity
        (entry,) = ws.ledger.append(
            [
                Event(
                    "registry.approved",
                    {
                        "approval": aid,
                        "model": name,
                        "version": v.version,
                        "digest": v.digest,
                        "stage": stage.value,
                        "kind": kind,
                        "approver": approver.name,
                        "roles": roles,
                        "mfa": True,
                        "expires_at": expires.isoformat(),
                        "renewal": renew,
                        "policy_version": pversion,
                    },
                    approver.actor,
                )
            ],
            session=s,
        )
        row = ApprovalRow(
            id=aid,
            version_id=v.id,
            digest=v.digest,
            stage=stage.value,
            kind=kind,
            approver=approver.name,
            approver_roles=roles,
            comment=comment[:500] if comment else None,
            created_at=now,
            expires_at=expires,
            ledger_seq=entry.seq,
        )
        s.add(row)
        try:
            s.flush()
        except IntegrityError:
            raise ConflictError(f"{approver.name} has already approved {info.ref}") from None
        return _approval(row, v)


def list_approvals(ws: Workspace, name: str | None = None) -> list[Approval]:
    with ws.db.session() as s:
        stmt = select(ApprovalRow, VersionRow).join(
            VersionRow, ApprovalRow.version_id == VersionRow.id
        )
        if name:
            stmt = stmt.where(VersionRow.model_name == name)
        return [_approval(a, v) for a, v in s.execute(stmt.order_by(ApprovalRow.created_at.desc()))]


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


# -- promotion and rollback ----------------------------------------------------------------


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


_GATED = (Stage.STAGING, Stage.PRODUCTION)
_GATED_VALUES = frozenset(x.value for x in _GATED)


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
        if to not in _GATED:
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


def _authors_of(ws: Workspace, target: str, digest: str | None) -> set[str]:
    """Who may not vote on a change request about ``NAME@VERSION``: its authors."""
    name, sep, version = target.partition("@")
    if not sep:
        return set()
    try:
        v = get_version(ws, name, version)
    except NotFoundError:
        return set()
    return set(v.authors) | {v.created_by}


register_conflict_check(_authors_of)


RollbackHook = Callable[[Transition], None]
_HOOKS: list[RollbackHook] = []
_HOOKS_LOCK = threading.Lock()


def register_rollback_hook(hook: RollbackHook) -> Callable[[], None]:
    """Call ``hook`` after every committed rollback (deployers, incident response).
    Returns a function that unregisters it. A failing hook does not undo the rollback."""
    with _HOOKS_LOCK:
        _HOOKS.append(hook)

    def _remove() -> None:
        with _HOOKS_LOCK:
            if hook in _HOOKS:
                _HOOKS.remove(hook)

    return _remove


def _signature_ok(ws: Workspace, digest: str) -> Evidence | None:
    latest = ws.evidence.list(
        EvidenceQuery(check_id="integrity.signature", subject_digest=digest, limit=1)
    )
    if not latest or latest[0].verdict is not Verdict.PASS:
        return None
    return latest[0] if ws.evidence.verify_digest(latest[0]) else None


def _reverify(
    ws: Workspace, v: VersionInfo, policy: Any, actor: str
) -> tuple[Evidence | None, str | None]:
    """Verify the version's signature against its files again, now (when the files are
    still where they were registered). Returns (fresh integrity.signature evidence or
    None when the files are gone, a refusal reason or None).

    Without an explicit verification policy, the policy is rebuilt from the last passing
    verification: the same certificate identities, under the workspace PKI's root, at the
    signing certificate's issuance time (short-lived certificates expire by design)."""
    from bastion.integrity import TimeMode, VerificationPolicy, record_verify

    path = Path(str(v.source)) if v.source else None
    if path is None or not path.exists():
        return None, None
    if policy is None:
        last = _signature_ok(ws, v.digest)
        if last is None:
            return None, (
                f"no passing integrity.signature evidence for {v.ref} ({v.digest[:19]}…): "
                "its signature no longer verifies"
            )
        signers = [str(x) for x in last.data.get("valid_signers") or []]
        ids = sorted({i for x in signers if x.startswith("cert:") for i in x[5:].split(",") if i})
        root = Path(ws.settings.key_dir) / "pki" / "root.pem"
        if not ids or not root.is_file():
            # A key-signed version (or a PKI outside this workspace): the stored evidence
            # stands, and the files are still checked against the registered digest below.
            from bastion.registry._digest import hash_model_dir

            if hash_model_dir(path).digest != v.digest:
                return None, (
                    f"the files of {v.ref} at {path} changed since registration: they no "
                    f"longer match {v.digest}"
                )
            return None, None
        policy = VerificationPolicy(
            allowed_identities=ids, trust_roots=[str(root)], time=TimeMode.ISSUANCE
        )
    res, ev = record_verify(ws, path, name=v.ref, policy=policy, actor=actor)
    if ev.verdict is not Verdict.PASS or res is None:
        why = "; ".join(f.message for f in ev.findings[:3]) or ev.verdict.value
        return ev, (
            f"the signature of {v.ref} no longer verifies against its files at {path}: {why} "
            f"(evidence {ev.id})"
        )
    if res.manifest_digest is None or f"sha256:{res.manifest_digest}" != v.digest:
        return ev, (
            f"the files of {v.ref} at {path} verify, but as digest sha256:{res.manifest_digest}, "
            f"not the registered {v.digest}"
        )
    return ev, None


def rollback(
    ws: Workspace,
    name: str,
    to_version: str,
    *,
    reason: str,
    actor: str,
    policy: Any = None,
) -> Transition:
    """Put a known-good version back in production. Only a version that passed its
    production gate and whose signature verifies again, now, against its files (when they
    are still on disk; else its latest integrity.signature evidence must pass).

    The version rolled away from loses its production gate record and every approval and
    board decision it had: re-promoting it needs fresh approvals (it may be compromised).
    ``policy`` (a VerificationPolicy or a policy file) overrides the re-verification policy.
    """
    if not reason or not reason.strip():
        raise InputError("a rollback needs a reason (--reason)")
    target = get_version(ws, name, to_version)
    if target.stage is Stage.PRODUCTION:
        raise ConflictError(f"{name}@{target.version} is already in production")
    if Stage.PRODUCTION.value not in target.gate_passed:
        raise ConflictError(
            f"{name}@{target.version} never passed its production gate (or was rolled back "
            "from): roll back only to a version that did"
        )
    if isinstance(policy, (str, Path)):
        from bastion.integrity import load_policy as load_verification_policy

        policy = load_verification_policy(Path(policy))
    fresh, refusal = _reverify(ws, target, policy, actor)
    if refusal is not None:
        raise ConflictError(f"cannot roll back to {name}@{target.version}: {refusal}")
    now = _now()
    with ws.db.session() as s:
        lock_model(s, name)
        _m, v = find_version(s, name, to_version)
        if v.stage == Stage.PRODUCTION.value:
            raise ConflictError(f"{name}@{v.version} is already in production")
        if Stage.PRODUCTION.value not in v.gate_passed:
            raise ConflictError(
                f"{name}@{v.version} never passed its production gate: roll back only to a "
                "version that did"
            )
        sig = fresh or _signature_ok(ws, v.digest)
        if sig is None:
            raise ConflictError(
                f"the latest integrity.signature evidence for {name}@{v.version} "
                f"({v.digest[:19]}…) does not pass: its signature no longer verifies"
            )
        for other in s.scalars(
            select(VersionRow).where(
                VersionRow.model_name == name, VersionRow.stage == Stage.PRODUCTION.value
            )
        ):
            passed = {k: x for k, x in other.gate_passed.items() if k not in _GATED_VALUES}
            passed["revoked"] = {
                "at": now.isoformat(),
                "by": actor,
                "reason": f"rolled back to {name}@{v.version}: {reason}",
            }
            other.gate_passed = passed
            record_transition(
                ws,
                s,
                other,
                action="archive",
                to=Stage.ARCHIVED,
                actor=actor,
                reason=f"rolled back to {name}@{v.version}: {reason}",
                extra={"approvals_revoked": True},
            )
        prior = v.gate_passed[Stage.PRODUCTION.value]
        t = record_transition(
            ws,
            s,
            v,
            action="rollback",
            to=Stage.PRODUCTION,
            actor=actor,
            reason=reason,
            evidence_ids=[sig.id, *prior.get("evidence_ids", [])],
            approval_ids=list(prior.get("approval_ids", [])),
            policy_version=prior.get("policy_version"),
            extra={"reverified": fresh is not None},
        )
    with _HOOKS_LOCK:
        hooks = list(_HOOKS)
    for hook in hooks:
        try:
            hook(t)
        except Exception:  # a listener must not undo or hide a committed rollback
            ws.ledger.append(
                [
                    Event(
                        "registry.rollback_hook_failed",
                        {"model": name, "hook": getattr(hook, "__qualname__", "hook")},
                        actor,
                    )
                ]
            )
    return t


def rollback_to_last_good(ws: Workspace, name: str, *, reason: str, actor: str) -> Transition:
    """For incident response: roll back to the newest other version that passed its
    production gate and whose signature still verifies."""
    with ws.db.session() as s:
        if s.get(ModelRow, name) is None:
            raise NotFoundError(f"no model {name!r} in the registry")
        rows = list(
            s.scalars(
                select(VersionRow)
                .where(VersionRow.model_name == name)
                .order_by(VersionRow.created_at.desc())
            )
        )
    for v in rows:
        if (
            v.stage != Stage.PRODUCTION.value
            and Stage.PRODUCTION.value in v.gate_passed
            and _signature_ok(ws, v.digest)
        ):
            return rollback(ws, name, v.version, reason=reason, actor=actor)
    raise ConflictError(f"{name} has no other version that passed its gate and is still signed")
