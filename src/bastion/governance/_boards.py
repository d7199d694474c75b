"""Boards, change requests and votes (the change advisory board). Who has a conflict
of interest in a change request's target is asked of the conflict checks wired in
(:class:`bastion.governance.interface.ConflictCheck`).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bastion.access import Permission, Principal
from bastion.core.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from bastion.core.workspace import Workspace
from bastion.governance._common import _iso, _ledger, _now, _utc
from bastion.governance._rows import (
    BoardRow,
    ChangeRequestRow,
    PersonRow,
    VoteRow,
)
from bastion.governance.interface import ConflictCheck

__all__ = [
    "Board",
    "ChangeRequest",
    "CrStatus",
    "VoteChoice",
    "approved_change_request",
    "conflicted_voters",
    "create_change_request",
    "get_board",
    "get_change_request",
    "list_boards",
    "list_change_requests",
    "register_conflict_check",
    "tally",
    "vote",
]


# -- boards, change requests, votes ---------------------------------------------------------


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    members: tuple[tuple[str, str], ...]
    quorum: int
    required_roles: tuple[str, ...]

    def role_of(self, person: str) -> str | None:
        return next((r for p, r in self.members if p == person), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "members": [{"person": p, "role": r} for p, r in self.members],
            "quorum": self.quorum,
            "required_roles": list(self.required_roles),
        }


def _board(r: BoardRow) -> Board:
    return Board(
        r.id,
        r.name,
        tuple((m["person"], m["role"]) for m in r.members),
        r.quorum,
        tuple(r.required_roles),
    )


def list_boards(ws: Workspace) -> list[Board]:
    with ws.db.session() as s:
        return [_board(r) for r in s.scalars(select(BoardRow).order_by(BoardRow.id))]


def get_board(ws: Workspace, board_id: str) -> Board:
    with ws.db.session() as s:
        row = s.get(BoardRow, board_id)
        if row is None:
            raise NotFoundError(f"no board {board_id!r}: define it under boards")
        return _board(row)


class CrStatus(enum.StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"


class VoteChoice(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    ABSTAIN = "abstain"


@dataclass(frozen=True)
class ChangeRequest:
    id: str
    title: str
    kind: str
    target: str
    target_digest: str | None
    board_id: str
    requested_by: str
    description: str
    status: CrStatus
    conditions: tuple[str, ...]
    decision: dict[str, Any]
    created_at: datetime
    decided_at: datetime | None
    votes: tuple[dict[str, Any], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "target": self.target,
            "target_digest": self.target_digest,
            "board": self.board_id,
            "requested_by": self.requested_by,
            "description": self.description,
            "status": self.status.value,
            "conditions": list(self.conditions),
            "decision": self.decision,
            "created_at": _iso(self.created_at),
            "decided_at": _iso(self.decided_at),
            "votes": list(self.votes),
        }


def _cr(s: Session, r: ChangeRequestRow) -> ChangeRequest:
    votes = s.scalars(select(VoteRow).where(VoteRow.cr_id == r.id).order_by(VoteRow.id))
    created = _utc(r.created_at)
    assert created is not None
    return ChangeRequest(
        r.id,
        r.title,
        r.kind,
        r.target,
        r.target_digest,
        r.board_id,
        r.requested_by,
        r.description,
        CrStatus(r.status),
        tuple(r.conditions),
        dict(r.decision),
        created,
        _utc(r.decided_at),
        tuple(
            {
                "voter": v.voter,
                "role": v.role,
                "vote": v.vote,
                "comment": v.comment,
                "at": _iso(v.created_at),
            }
            for v in votes
        ),
    )


_CR_KINDS = ("model_update", "infrastructure", "policy", "other")


def create_change_request(
    ws: Workspace,
    *,
    title: str,
    target: str,
    board_id: str,
    requested_by: str,
    kind: str = "model_update",
    target_digest: str | None = None,
    description: str = "",
    conditions: Sequence[str] = (),
) -> ChangeRequest:
    if not 1 <= len(title) <= 300:
        raise InputError("a change request title is 1-300 characters")
    if kind not in _CR_KINDS:
        raise InputError(f"change request kind must be one of {', '.join(_CR_KINDS)}")
    if not target or len(target) > 300:
        raise InputError("a change request needs a target (like credit-gbm@2), 1-300 characters")
    with ws.db.session() as s:
        if s.get(BoardRow, board_id) is None:
            raise NotFoundError(f"no board {board_id!r}: define it under boards")
        row = ChangeRequestRow(
            id=str(uuid.uuid4()),
            title=title,
            kind=kind,
            target=target,
            target_digest=target_digest,
            board_id=board_id,
            requested_by=requested_by,
            description=description[:10_000],
            status=CrStatus.OPEN.value,
            conditions=list(conditions),
            decision={},
            lock_seq=0,
            created_at=_now(),
        )
        s.add(row)
        s.flush()
        _ledger(
            ws,
            s,
            "governance.change_request_opened",
            {
                "change_request": row.id,
                "title": title,
                "kind": kind,
                "target": target,
                "target_digest": target_digest,
                "board": board_id,
                "requested_by": requested_by,
            },
            requested_by,
        )
        return _cr(s, row)


def get_change_request(ws: Workspace, cr_id: str) -> ChangeRequest:
    with ws.db.session() as s:
        row = s.get(ChangeRequestRow, cr_id)
        if row is None:
            raise NotFoundError(f"no change request {cr_id}")
        return _cr(s, row)


def list_change_requests(
    ws: Workspace, *, status: str | None = None, target: str | None = None
) -> list[ChangeRequest]:
    stmt = select(ChangeRequestRow).order_by(ChangeRequestRow.created_at.desc())
    if status:
        stmt = stmt.where(ChangeRequestRow.status == status)
    if target:
        stmt = stmt.where(ChangeRequestRow.target == target)
    with ws.db.session() as s:
        return [_cr(s, r) for r in s.scalars(stmt)]


class _Vote(Protocol):
    @property
    def voter(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def vote(self) -> str: ...


@dataclass(frozen=True)
class VoteTally:
    """How a change request's votes count against its board's rules."""

    approvals: int
    rejections: int
    quorum: int
    missing_roles: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "approvals": self.approvals,
            "rejections": self.rejections,
            "quorum": self.quorum,
            "missing_roles": list(self.missing_roles),
        }


@dataclass(frozen=True)
class _V:
    voter: str
    role: str
    vote: str


def tally(
    board: Board, votes: Sequence[dict[str, Any]], *, exclude: Iterable[str] = ()
) -> tuple[CrStatus, VoteTally]:
    """Decide a change request's votes again without the votes of ``exclude`` (who may not
    count, like the authors of the model it is about); they cannot vote either."""
    out = set(exclude)
    kept = [_V(str(v["voter"]), str(v["role"]), str(v["vote"])) for v in votes]
    return _decide(board, [v for v in kept if v.voter not in out], out)


def _decide(
    board: Board, votes: Sequence[_Vote], excluded: Iterable[str] = ()
) -> tuple[CrStatus, VoteTally]:
    """Approved: at least ``quorum`` approvals and every required role among the approvers.
    Rejected: too few members left who could still approve to reach the quorum or a
    required role."""
    approvers = [v for v in votes if v.vote == VoteChoice.APPROVE.value]
    roles = {v.role for v in approvers}
    missing = [r for r in board.required_roles if r not in roles]
    voted = {v.voter for v in votes} | set(excluded)
    could = len(approvers) + sum(1 for p, _r in board.members if p not in voted)
    pending_roles = {r for p, r in board.members if p not in voted}
    summary = VoteTally(
        approvals=len(approvers),
        rejections=sum(1 for v in votes if v.vote == VoteChoice.REJECT.value),
        quorum=board.quorum,
        missing_roles=tuple(missing),
    )
    if len(approvers) >= board.quorum and not missing:
        return CrStatus.APPROVED, summary
    if could < board.quorum or any(r not in pending_roles for r in missing):
        return CrStatus.REJECTED, summary
    return CrStatus.OPEN, summary


_CONFLICT_CHECKS: list[ConflictCheck] = []


def register_conflict_check(check: ConflictCheck) -> Callable[[], None]:
    """Let another room name who has a conflict of interest in a change request's target
    (``check(ws, target, target_digest)`` -> people): the registry names a model version's
    authors. They may not vote on it. Returns a function that unregisters the check.

    Called by :func:`bastion.wiring.wire` (the one place hooks are wired), or by a test."""
    _CONFLICT_CHECKS.append(check)

    def _remove() -> None:
        if check in _CONFLICT_CHECKS:
            _CONFLICT_CHECKS.remove(check)

    return _remove


def conflicted_voters(ws: Workspace, target: str, digest: str | None) -> set[str]:
    """Everyone a registered conflict check names for ``target``."""
    out: set[str] = set()
    for check in _CONFLICT_CHECKS:
        out.update(check(ws, target, digest))
    return out


def vote(
    ws: Workspace,
    cr_id: str,
    voter: Principal,
    choice: VoteChoice | str,
    *,
    comment: str | None = None,
    condition: str | None = None,
) -> ChangeRequest:
    """Cast one board member's vote; needs MFA. The requester cannot vote on their own
    request, nor anyone with a conflict of interest in its target (a model version's
    authors); nobody votes twice; a decided request takes no more votes."""
    try:
        choice = VoteChoice(choice)
    except ValueError:
        raise InputError("a vote is approve, reject or abstain") from None
    if not voter.can(Permission.APPROVE) or not voter.mfa_verified:
        raise PermissionDeniedError(
            "votes need an approver role and multi-factor authentication (a current TOTP code)"
        )
    current = get_change_request(ws, cr_id)
    conflicted = conflicted_voters(ws, current.target, current.target_digest)
    if voter.name in conflicted:
        raise PermissionDeniedError(
            f"{voter.name} authored {current.target} and cannot vote on change {cr_id} "
            "(separation of duties)"
        )
    with ws.db.session() as s:
        # First statement a write: the row lock that serialises concurrent votes.
        s.execute(
            update(ChangeRequestRow)
            .where(ChangeRequestRow.id == cr_id)
            .values(lock_seq=ChangeRequestRow.lock_seq + 1)
        )
        row = s.get(ChangeRequestRow, cr_id, populate_existing=True)
        if row is None:
            raise NotFoundError(f"no change request {cr_id}")
        if row.status != CrStatus.OPEN.value:
            raise ConflictError(f"change request {cr_id} is already {row.status}")
        board_row = s.get(BoardRow, row.board_id)
        if board_row is None:
            raise NotFoundError(f"board {row.board_id} of change request {cr_id} is gone")
        board = _board(board_row)
        role = board.role_of(voter.name)
        if role is None:
            raise PermissionDeniedError(f"{voter.name} is not a member of board {board.id}")
        person = s.get(PersonRow, voter.name)
        if person is None or not person.active or role not in person.roles:
            held = ", ".join(person.roles) if person is not None else "none (not a person)"
            raise PermissionDeniedError(
                f"{voter.name} sits on board {board.id} as {role} but now holds role(s) "
                f"{held}: update the board or the person's roles first"
            )
        if voter.name == row.requested_by:
            raise PermissionDeniedError(
                f"{voter.name} requested change {cr_id} and cannot vote on it "
                "(separation of duties)"
            )
        existing = s.scalars(
            select(VoteRow).where(VoteRow.cr_id == cr_id, VoteRow.voter == voter.name)
        ).first()
        if existing is not None:
            raise ConflictError(f"{voter.name} has already voted {existing.vote} on {cr_id}")
        s.add(
            VoteRow(
                cr_id=cr_id,
                voter=voter.name,
                role=role,
                vote=choice.value,
                comment=(comment or None) and comment[:500],
                created_at=_now(),
            )
        )
        if condition:
            row.conditions = [*row.conditions, condition[:500]]
        try:
            s.flush()
        except IntegrityError:
            raise ConflictError(f"{voter.name} has already voted on {cr_id}") from None
        _ledger(
            ws,
            s,
            "governance.vote_cast",
            {
                "change_request": cr_id,
                "voter": voter.name,
                "role": role,
                "vote": choice.value,
                "condition": condition,
            },
            voter.actor,
        )
        votes = list(s.scalars(select(VoteRow).where(VoteRow.cr_id == cr_id)))
        status, summary = _decide(board, votes, conflicted)
        if status is not CrStatus.OPEN:
            row.status = status.value
            row.decision = summary.to_dict() | {"conditions": list(row.conditions)}
            row.decided_at = _now()
            s.flush()
            _ledger(
                ws,
                s,
                "governance.change_request_decided",
                {"change_request": cr_id, "status": status.value, **summary.to_dict()},
                voter.actor,
            )
        return _cr(s, row)


def approved_change_request(
    ws: Workspace, target: str, digest: str | None, board_id: str | None = None
) -> ChangeRequest | None:
    """The newest approved change request for ``target`` pinned to ``digest`` (so a
    decision on one model digest never approves a retrained one)."""
    stmt = (
        select(ChangeRequestRow)
        .where(
            ChangeRequestRow.target == target,
            ChangeRequestRow.status == CrStatus.APPROVED.value,
            ChangeRequestRow.target_digest == digest,
        )
        .order_by(ChangeRequestRow.decided_at.desc())
    )
    if board_id:
        stmt = stmt.where(ChangeRequestRow.board_id == board_id)
    with ws.db.session() as s:
        row = s.scalars(stmt).first()
        return _cr(s, row) if row else None
