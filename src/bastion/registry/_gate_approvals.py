"""Gate approvals: who asked for a promotion, sign-offs with separation of duties and
MFA, board decisions (approved change requests), and the approval lines of a gate.

Registers the conflict-of-interest rule with the governance room: a model version's
authors cannot vote on change requests about it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bastion.access import Permission, Principal
from bastion.core.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from bastion.core.ledger import Event
from bastion.core.workspace import Workspace
from bastion.governance import (
    CrStatus,
    approved_change_request,
    get_board,
    get_person,
    tally,
)
from bastion.registry._gate_common import (
    RequirementResult,
    _now,
    _stage,
    _tier,
    _utc,
    revoked_at,
)
from bastion.registry._policy import ApprovalRequirement, Stage, current_policy
from bastion.registry._rows import ApprovalRow, RequestRow, VersionRow
from bastion.registry._store import (
    VersionInfo,
    find_version,
    get_version,
    lock_model,
    version_info,
)

__all__ = ["Approval", "approve", "list_approvals", "request_promotion", "version_authors"]


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
                    f"{summary.approvals} approval(s) of quorum {summary.quorum}"
                    + (
                        f", missing role(s) {', '.join(summary.missing_roles)}"
                        if summary.missing_roles
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


def version_authors(ws: Workspace, target: str, digest: str | None) -> set[str]:
    """Who may not vote on a change request about ``NAME@VERSION``: its authors (a
    :class:`bastion.governance.ConflictCheck`, wired by :func:`bastion.wiring.wire`)."""
    name, sep, version = target.partition("@")
    if not sep:
        return set()
    try:
        v = get_version(ws, name, version)
    except NotFoundError:
        return set()
    return set(v.authors) | {v.created_by}
