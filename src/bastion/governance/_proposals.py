"""The two-person rule for privileged changes: one privileged person proposes a change (a
gate policy, a governance file), a different privileged person approves it, and only then
does it take effect. Both steps are ledger events; the proposer can never approve their own
change. Other rooms register what a kind of change does when approved
(:func:`register_change_kind`, wired once by :func:`bastion.wiring.wire`), as the registry
does for gate policies.

The local CLI administrator (``bastion gate policy set``, ``bastion governance apply``) is
the break-glass path: it applies at once, and the ledger event says so.
"""

from __future__ import annotations

import enum
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bastion.access import Permission, Principal
from bastion.core.errors import (
    BastionError,
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from bastion.core.ledger import Event
from bastion.core.workspace import Workspace
from bastion.governance._rows import ProposalRow
from bastion.governance.interface import ChangeApplier, ChangeKind

__all__ = [
    "ChangeKind",
    "Proposal",
    "ProposalStatus",
    "approve_change",
    "get_proposal",
    "list_proposals",
    "propose_change",
    "register_change_kind",
    "reject_change",
]


class ProposalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"  # approved, being applied
    APPLIED = "applied"
    FAILED = "failed"  # approved, but applying it failed (nothing changed)
    REJECTED = "rejected"


_APPLIERS: dict[str, ChangeApplier] = {}


def register_change_kind(kind: ChangeKind | str, apply: ChangeApplier) -> Callable[[], None]:
    """Say what an approved change of ``kind`` does. Returns a function that unregisters it.

    Called by :func:`bastion.wiring.wire` (the one place hooks are wired), or by a test."""
    key = ChangeKind(kind).value
    _APPLIERS[key] = apply

    def _remove() -> None:
        if _APPLIERS.get(key) is apply:
            del _APPLIERS[key]

    return _remove


def _applier(kind: str) -> ChangeApplier:
    apply = _APPLIERS.get(kind)
    if apply is None:
        raise InputError(f"no room applies changes of kind {kind!r}")
    return apply


@dataclass(frozen=True)
class Proposal:
    id: str
    kind: str
    digest: str
    summary: str
    body: dict[str, Any]
    proposed_by: str
    status: ProposalStatus
    decided_by: str | None
    result: dict[str, Any]
    created_at: datetime
    decided_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "digest": self.digest,
            "summary": self.summary,
            "body": self.body,
            "proposed_by": self.proposed_by,
            "status": self.status.value,
            "decided_by": self.decided_by,
            "result": self.result,
            "created_at": self.created_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
        }


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def _proposal(r: ProposalRow) -> Proposal:
    created = _utc(r.created_at)
    assert created is not None
    return Proposal(
        r.id,
        r.kind,
        r.digest,
        r.summary,
        dict(r.body),
        r.proposed_by,
        ProposalStatus(r.status),
        r.decided_by,
        dict(r.result),
        created,
        _utc(r.decided_at),
    )


def _privileged(p: Principal, what: str) -> None:
    if not (p.can(Permission.ADMIN) or p.can(Permission.APPROVE)) or not p.mfa_verified:
        raise PermissionDeniedError(
            f"{what} needs an admin or approver token with multi-factor authentication"
        )


def _ledger(ws: Workspace, s: Session, kind: str, data: dict[str, Any], actor: str) -> None:
    ws.ledger.append([Event(kind, data, actor)], session=s)


def propose_change(
    ws: Workspace,
    kind: ChangeKind | str,
    body: Mapping[str, Any],
    *,
    proposer: Principal,
    summary: str = "",
) -> Proposal:
    """Record a proposed change; nothing takes effect until another person approves it."""
    raw = json.dumps(dict(body), sort_keys=True, separators=(",", ":"), default=str).encode()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    _privileged(proposer, "proposing a privileged change")
    try:
        kind = ChangeKind(kind)
    except ValueError:
        raise InputError(
            f"unknown change kind {kind!r} (one of {', '.join(k.value for k in ChangeKind)})"
        ) from None
    _applier(kind.value)
    row = ProposalRow(
        id=str(uuid.uuid4()),
        kind=kind.value,
        digest=digest,
        body=dict(body),
        summary=summary[:300],
        proposed_by=proposer.name,
        status=ProposalStatus.PENDING.value,
        result={},
        lock_seq=0,
        created_at=datetime.now(UTC),
    )
    with ws.db.session() as s:
        s.add(row)
        s.flush()
        _ledger(
            ws,
            s,
            "governance.change_proposed",
            {
                "proposal": row.id,
                "kind": kind.value,
                "digest": digest,
                "summary": row.summary,
                "proposed_by": proposer.name,
            },
            proposer.actor,
        )
        return _proposal(row)


def _locked(s: Session, proposal_id: str) -> ProposalRow:
    # First statement a write: the row lock that serialises concurrent decisions.
    s.execute(
        update(ProposalRow)
        .where(ProposalRow.id == proposal_id)
        .values(lock_seq=ProposalRow.lock_seq + 1)
    )
    row = s.get(ProposalRow, proposal_id, populate_existing=True)
    if row is None:
        raise NotFoundError(f"no proposal {proposal_id}")
    if row.status != ProposalStatus.PENDING.value:
        raise ConflictError(f"proposal {proposal_id} is already {row.status}")
    return row


def approve_change(ws: Workspace, proposal_id: str, *, approver: Principal) -> Proposal:
    """Approve and apply a proposed change, as a second privileged person. The proposer
    cannot approve their own proposal (two-person rule)."""
    _privileged(approver, "approving a privileged change")
    with ws.db.session() as s:
        row = _locked(s, proposal_id)
        if approver.name == row.proposed_by:
            raise PermissionDeniedError(
                f"{approver.name} proposed {proposal_id} and cannot approve it: a second "
                "person must (two-person rule)"
            )
        apply = _applier(row.kind)
        row.status = ProposalStatus.APPROVED.value
        row.decided_by = approver.name
        row.decided_at = datetime.now(UTC)
        s.flush()
        _ledger(
            ws,
            s,
            "governance.change_approved",
            {
                "proposal": row.id,
                "kind": row.kind,
                "digest": row.digest,
                "proposed_by": row.proposed_by,
                "approved_by": approver.name,
            },
            approver.actor,
        )
        body, proposed_by = dict(row.body), row.proposed_by
    approval = {"proposal": proposal_id, "proposed_by": proposed_by, "approved_by": approver.name}
    try:
        result = apply(ws, body, approver.actor, approval)
    except BastionError as exc:
        _finish(ws, proposal_id, ProposalStatus.FAILED, {"error": exc.message}, approver.actor)
        raise
    return _finish(ws, proposal_id, ProposalStatus.APPLIED, result, approver.actor)


def _finish(
    ws: Workspace, proposal_id: str, status: ProposalStatus, result: dict[str, Any], actor: str
) -> Proposal:
    with ws.db.session() as s:
        row = s.get(ProposalRow, proposal_id)
        assert row is not None
        row.status = status.value
        row.result = result
        s.flush()
        if status is ProposalStatus.FAILED:
            _ledger(
                ws,
                s,
                "governance.change_failed",
                {"proposal": proposal_id, "kind": row.kind, "error": str(result.get("error"))},
                actor,
            )
        return _proposal(row)


def reject_change(
    ws: Workspace, proposal_id: str, *, actor: Principal, reason: str = ""
) -> Proposal:
    """Reject a proposal (or, as its proposer, withdraw it); nothing changes."""
    _privileged(actor, "rejecting a privileged change")
    with ws.db.session() as s:
        row = _locked(s, proposal_id)
        row.status = ProposalStatus.REJECTED.value
        row.decided_by = actor.name
        row.decided_at = datetime.now(UTC)
        row.result = {"reason": reason[:500]}
        s.flush()
        _ledger(
            ws,
            s,
            "governance.change_rejected",
            {
                "proposal": row.id,
                "kind": row.kind,
                "proposed_by": row.proposed_by,
                "rejected_by": actor.name,
                "reason": reason[:500],
            },
            actor.actor,
        )
        return _proposal(row)


def get_proposal(ws: Workspace, proposal_id: str) -> Proposal:
    with ws.db.session() as s:
        row = s.get(ProposalRow, proposal_id)
        if row is None:
            raise NotFoundError(f"no proposal {proposal_id}")
        return _proposal(row)


def list_proposals(
    ws: Workspace, *, status: str | None = None, kind: str | None = None
) -> list[Proposal]:
    stmt = select(ProposalRow).order_by(ProposalRow.created_at.desc()).limit(500)
    if status:
        stmt = stmt.where(ProposalRow.status == status)
    if kind:
        stmt = stmt.where(ProposalRow.kind == kind)
    with ws.db.session() as s:
        return [_proposal(r) for r in s.scalars(stmt)]
