"""Governance state: people and roles, grants and access reviews, RACI, boards, change
requests and votes, the escalation matrix. Every change is a ledger event, written in the
same transaction as the change.
"""

from __future__ import annotations

import enum
import fnmatch
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bastion.access import Permission, Principal
from bastion.core.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from bastion.core.ledger import Event
from bastion.core.types import Severity
from bastion.core.workspace import Workspace
from bastion.governance._config import (
    Domain,
    Duty,
    EscalationMatrix,
    GovernanceConfig,
    PersonSpec,
)
from bastion.governance._proposals import ChangeKind, register_change_kind
from bastion.governance._rows import (
    BoardRow,
    ChangeRequestRow,
    EscalationRow,
    GrantRow,
    PersonRow,
    RaciRow,
    ReviewRow,
    RoleRow,
    VoteRow,
)

__all__ = [
    "AccessReview",
    "Board",
    "ChangeRequest",
    "CrStatus",
    "EscalationRoute",
    "Person",
    "VoteChoice",
    "add_person",
    "apply_config",
    "approved_change_request",
    "complete_access_review",
    "conflicted_voters",
    "create_change_request",
    "escalation_for",
    "get_board",
    "get_change_request",
    "get_escalation_matrix",
    "get_person",
    "grant_access",
    "list_access_reviews",
    "list_boards",
    "list_change_requests",
    "list_people",
    "list_raci",
    "raci_for",
    "register_conflict_check",
    "set_escalation_matrix",
    "set_raci",
    "start_access_review",
    "tally",
    "transition_roles",
    "vote",
]


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def _iso(ts: datetime | None) -> str | None:
    t = _utc(ts)
    return t.isoformat() if t else None


def _digest(obj: Any) -> str:
    raw = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _ledger(ws: Workspace, s: Session, kind: str, data: dict[str, Any], actor: str) -> int:
    (entry,) = ws.ledger.append([Event(kind, data, actor)], session=s)
    return entry.seq


# -- people, roles, grants ---------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    roles: tuple[str, ...]
    active: bool
    grants: tuple[tuple[int, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "roles": list(self.roles),
            "active": self.active,
            "grants": [{"id": i, "grant": g} for i, g in self.grants],
        }


def _person(s: Session, row: PersonRow) -> Person:
    grants = s.scalars(
        select(GrantRow)
        .where(GrantRow.person_id == row.id, GrantRow.revoked_at.is_(None))
        .order_by(GrantRow.id)
    )
    return Person(
        row.id, row.name, tuple(row.roles), row.active, tuple((g.id, g.grant) for g in grants)
    )


def list_people(ws: Workspace) -> list[Person]:
    with ws.db.session() as s:
        return [_person(s, r) for r in s.scalars(select(PersonRow).order_by(PersonRow.id))]


def get_person(ws: Workspace, person_id: str) -> Person:
    with ws.db.session() as s:
        row = s.get(PersonRow, person_id)
        if row is None:
            raise NotFoundError(
                f"no person {person_id!r} in governance: add them with "
                "'bastion governance people add' or a governance file"
            )
        return _person(s, row)


def _allowed(s: Session, roles: Iterable[str]) -> list[str]:
    patterns: list[str] = []
    for r in roles:
        row = s.get(RoleRow, r)
        if row is not None:
            patterns.extend(row.grants)
    return patterns


def _keeps(grant: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(grant, p) for p in patterns)


def add_person(
    ws: Workspace,
    spec: PersonSpec,
    *,
    actor: str = "cli",
    session: Session | None = None,
    review: bool = True,
) -> Person:
    """Create a person with initial grants; an existing id is a conflict.

    Their roles count only once another person attests the access review this opens
    (``review=False`` is for a governance file, itself approved by a second person or applied
    by the local administrator). Nobody adds themselves.
    """

    def _do(s: Session) -> Person:
        if s.get(PersonRow, spec.id) is not None:
            raise ConflictError(f"person {spec.id!r} already exists: use a role transition")
        if actor == spec.id:
            raise PermissionDeniedError(
                f"{actor} cannot add themselves (separation of duties): another person must"
            )
        for r in spec.roles:
            if s.get(RoleRow, r) is None:
                raise InputError(
                    f"role {r!r} is not defined: define it under roles in the governance file"
                )
        row = PersonRow(
            id=spec.id,
            name=spec.name,
            roles=[] if review else list(spec.roles),
            active=True,
            updated_at=_now(),
        )
        s.add(row)
        s.flush()
        for g in spec.grants:
            s.add(GrantRow(person_id=spec.id, grant=g, granted_by=actor, granted_at=_now()))
        s.flush()
        _ledger(
            ws,
            s,
            "governance.person_added",
            {
                "person": spec.id,
                "roles": list(spec.roles),
                "grants": list(spec.grants),
                "roles_pending_review": review,
            },
            actor,
        )
        if review:
            _open_review(
                ws,
                s,
                row,
                ReviewTrigger.ROLE_TRANSITION,
                {"from": [], "to": list(spec.roles), "proposed_by": actor},
                actor,
                roles=spec.roles,
            )
        return _person(s, row)

    if session is not None:
        return _do(session)
    with ws.db.session() as s:
        return _do(s)


def grant_access(ws: Workspace, person_id: str, grant: str, *, actor: str = "cli") -> Person:
    if not grant or len(grant) > 200:
        raise InputError("a grant is 1-200 characters, like 'dataset:applicants:read'")
    if actor == person_id:
        raise PermissionDeniedError(
            f"{actor} cannot give themselves a grant (separation of duties): another person must"
        )
    with ws.db.session() as s:
        row = s.get(PersonRow, person_id)
        if row is None:
            raise NotFoundError(f"no person {person_id!r} in governance")
        s.add(GrantRow(person_id=person_id, grant=grant, granted_by=actor, granted_at=_now()))
        s.flush()
        _ledger(ws, s, "governance.access_granted", {"person": person_id, "grant": grant}, actor)
        return _person(s, row)


# -- access reviews ------------------------------------------------------------------------


class ReviewTrigger(enum.StrEnum):
    ROLE_TRANSITION = "role_transition"
    PERIODIC = "periodic"


@dataclass(frozen=True)
class AccessReview:
    id: str
    person_id: str
    trigger: str
    detail: dict[str, Any]
    items: tuple[dict[str, Any], ...]
    status: str
    attested_by: str | None
    created_at: datetime
    completed_at: datetime | None

    @property
    def to_revoke(self) -> list[dict[str, Any]]:
        return [i for i in self.items if not i["keep"]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "person": self.person_id,
            "trigger": self.trigger,
            "detail": self.detail,
            "items": list(self.items),
            "status": self.status,
            "attested_by": self.attested_by,
            "created_at": _iso(self.created_at),
            "completed_at": _iso(self.completed_at),
        }


def _review(r: ReviewRow) -> AccessReview:
    created = _utc(r.created_at)
    assert created is not None
    return AccessReview(
        r.id,
        r.person_id,
        r.trigger,
        dict(r.detail),
        tuple(r.items),
        r.status,
        r.attested_by,
        created,
        _utc(r.completed_at),
    )


def _open_review(
    ws: Workspace,
    s: Session,
    person: PersonRow,
    trigger: ReviewTrigger,
    detail: dict[str, Any],
    actor: str,
    *,
    roles: Sequence[str] | None = None,
) -> AccessReview:
    """Open a review of ``person``'s grants against ``roles`` (default: their current ones;
    a role transition reviews against the roles they are moving to)."""
    roles = list(person.roles if roles is None else roles)
    patterns = _allowed(s, roles)
    grants = s.scalars(
        select(GrantRow)
        .where(GrantRow.person_id == person.id, GrantRow.revoked_at.is_(None))
        .order_by(GrantRow.id)
    )
    items = [
        {
            "grant_id": g.id,
            "grant": g.grant,
            "keep": _keeps(g.grant, patterns),
            "reason": "allowed by role(s) " + ", ".join(roles)
            if _keeps(g.grant, patterns)
            else "not allowed by role(s) " + ", ".join(roles),
        }
        for g in grants
    ]
    row = ReviewRow(
        id=str(uuid.uuid4()),
        person_id=person.id,
        trigger=trigger.value,
        detail=detail,
        items=items,
        status="open",
        created_at=_now(),
    )
    s.add(row)
    s.flush()
    _ledger(
        ws,
        s,
        "governance.access_review_opened",
        {
            "review": row.id,
            "person": person.id,
            "trigger": trigger.value,
            "flagged": [i["grant"] for i in items if not i["keep"]],
        },
        actor,
    )
    return _review(row)


def transition_roles(
    ws: Workspace, person_id: str, roles: Sequence[str], *, actor: str = "cli"
) -> AccessReview:
    """Propose a change of a person's roles (research to operations, say) and open the
    access review that lists every grant the new roles should not keep.

    Two-person rule: nobody changes their own roles, and a role the person did not hold
    counts only once another person (neither the person nor the proposer) attests the
    review. Roles the person is losing are dropped at once (losing access needs no
    second opinion).
    """
    if not roles:
        raise InputError("a role transition needs at least one new role")
    if actor == person_id:
        raise PermissionDeniedError(
            f"{actor} cannot change their own roles (separation of duties): another person "
            "must propose it and a third attest the access review"
        )
    with ws.db.session() as s:
        # First statement a write: the row lock that serialises transitions of one person.
        s.execute(update(PersonRow).where(PersonRow.id == person_id).values(updated_at=_now()))
        row = s.get(PersonRow, person_id, populate_existing=True)
        if row is None:
            raise NotFoundError(f"no person {person_id!r} in governance")
        for r in roles:
            if s.get(RoleRow, r) is None:
                raise InputError(f"role {r!r} is not defined: define it under roles first")
        pending = s.scalars(
            select(ReviewRow).where(
                ReviewRow.person_id == person_id,
                ReviewRow.trigger == ReviewTrigger.ROLE_TRANSITION.value,
                ReviewRow.status == "open",
            )
        ).first()
        if pending is not None:
            raise ConflictError(
                f"{person_id} has a role transition awaiting attestation (review {pending.id}): "
                "attest it first"
            )
        before = list(row.roles)
        to = list(dict.fromkeys(roles))
        if sorted(before) == sorted(to):
            raise ConflictError(f"{person_id} already has role(s) {', '.join(to)}")
        row.roles = [r for r in before if r in to]  # removals now, additions after the review
        row.updated_at = _now()
        s.flush()
        _ledger(
            ws,
            s,
            "governance.role_transition",
            {
                "person": person_id,
                "from": before,
                "to": to,
                "effective": list(row.roles),
                "pending": [r for r in to if r not in before],
            },
            actor,
        )
        return _open_review(
            ws,
            s,
            row,
            ReviewTrigger.ROLE_TRANSITION,
            {"from": before, "to": to, "proposed_by": actor},
            actor,
            roles=to,
        )


def start_access_review(ws: Workspace, person_id: str, *, actor: str = "cli") -> AccessReview:
    """A periodic review: every grant of the person against their current roles."""
    with ws.db.session() as s:
        row = s.get(PersonRow, person_id)
        if row is None:
            raise NotFoundError(f"no person {person_id!r} in governance")
        return _open_review(ws, s, row, ReviewTrigger.PERIODIC, {"roles": list(row.roles)}, actor)


def list_access_reviews(
    ws: Workspace, *, person_id: str | None = None, status: str | None = None
) -> list[AccessReview]:
    stmt = select(ReviewRow).order_by(ReviewRow.created_at.desc())
    if person_id:
        stmt = stmt.where(ReviewRow.person_id == person_id)
    if status:
        stmt = stmt.where(ReviewRow.status == status)
    with ws.db.session() as s:
        return [_review(r) for r in s.scalars(stmt)]


def complete_access_review(
    ws: Workspace,
    review_id: str,
    *,
    attested_by: str,
    keep: Iterable[int] = (),
    actor: str = "cli",
) -> AccessReview:
    """Attest a review: revoke every flagged grant except those in ``keep`` (an explicit,
    ledgered exception). The reviewed person cannot attest their own review."""
    keep_ids = set(keep)
    with ws.db.session() as s:
        s.execute(
            update(ReviewRow).where(ReviewRow.id == review_id).values(status=ReviewRow.status)
        )
        row = s.get(ReviewRow, review_id, populate_existing=True)
        if row is None:
            raise NotFoundError(f"no access review {review_id}")
        if row.status != "open":
            raise ConflictError(f"access review {review_id} is already {row.status}")
        if attested_by == row.person_id:
            raise PermissionDeniedError(
                f"{attested_by} cannot attest their own access review (separation of duties)"
            )
        proposer = row.detail.get("proposed_by")
        if row.trigger == ReviewTrigger.ROLE_TRANSITION.value and attested_by == proposer:
            raise PermissionDeniedError(
                f"{attested_by} proposed this role change and cannot attest its review: a "
                "second person must (two-person rule)"
            )
        if s.get(PersonRow, attested_by) is None:
            raise NotFoundError(f"attester {attested_by!r} is not a person in governance")
        unknown = keep_ids - {int(i["grant_id"]) for i in row.items}
        if unknown:
            raise InputError(f"grant id(s) {sorted(unknown)} are not part of review {review_id}")
        revoked: list[str] = []
        items = []
        for i in row.items:
            item = dict(i)
            if not item["keep"] and int(item["grant_id"]) in keep_ids:
                item["keep"] = True
                item["reason"] = f"kept as an exception attested by {attested_by}"
            if not item["keep"]:
                g = s.get(GrantRow, int(item["grant_id"]))
                if g is not None and g.revoked_at is None:
                    g.revoked_at = _now()
                    revoked.append(g.grant)
                item["revoked"] = True
            items.append(item)
        row.items = items
        row.status = "completed"
        row.attested_by = attested_by
        row.completed_at = _now()
        granted: list[str] = []
        if row.trigger == ReviewTrigger.ROLE_TRANSITION.value and "to" in row.detail:
            # The attested transition takes effect now: the new roles count from here.
            person = s.get(PersonRow, row.person_id)
            if person is not None:
                to = [str(r) for r in row.detail["to"]]
                granted = [r for r in to if r not in person.roles]
                person.roles = to
                person.updated_at = _now()
        s.flush()
        _ledger(
            ws,
            s,
            "governance.access_review_completed",
            {
                "review": review_id,
                "person": row.person_id,
                "attested_by": attested_by,
                "revoked": revoked,
                "exceptions": sorted(keep_ids),
                "roles_granted": granted,
            },
            actor,
        )
        return _review(row)


# -- RACI ----------------------------------------------------------------------------------


def set_raci(
    ws: Workspace,
    scope: str,
    ref: str,
    duty: Duty | str,
    person_id: str,
    *,
    actor: str = "cli",
    session: Session | None = None,
) -> dict[str, str]:
    try:
        duty = Duty(duty)
    except ValueError:
        raise InputError(
            f"unknown duty {duty!r} (expected one of: {', '.join(d.value for d in Duty)})"
        ) from None
    if scope not in ("system", "asset"):
        raise InputError(f"RACI scope must be system or asset, not {scope!r}")

    def _do(s: Session) -> dict[str, str]:
        if s.get(PersonRow, person_id) is None:
            raise NotFoundError(f"no person {person_id!r} in governance")
        row = s.scalars(
            select(RaciRow).where(
                RaciRow.scope == scope, RaciRow.ref == ref, RaciRow.duty == duty.value
            )
        ).first()
        before = row.person_id if row else None
        if before == person_id:
            return _raci(s, scope, ref)
        if row is None:
            s.add(
                RaciRow(
                    scope=scope,
                    ref=ref,
                    duty=duty.value,
                    letter=duty.letter,
                    person_id=person_id,
                    updated_at=_now(),
                )
            )
        else:
            row.person_id = person_id
            row.updated_at = _now()
        s.flush()
        _ledger(
            ws,
            s,
            "governance.raci_set",
            {"scope": scope, "ref": ref, "duty": duty.value, "person": person_id, "was": before},
            actor,
        )
        return _raci(s, scope, ref)

    if session is not None:
        return _do(session)
    with ws.db.session() as s:
        return _do(s)


def _raci(s: Session, scope: str, ref: str) -> dict[str, str]:
    rows = s.scalars(select(RaciRow).where(RaciRow.scope == scope, RaciRow.ref == ref))
    return {r.duty: r.person_id for r in rows}


def raci_for(ws: Workspace, scope: str, ref: str) -> dict[str, str]:
    """Duty -> person for one system or asset (empty when none is assigned)."""
    with ws.db.session() as s:
        return _raci(s, scope, ref)


def list_raci(ws: Workspace) -> list[dict[str, str]]:
    with ws.db.session() as s:
        rows = s.scalars(select(RaciRow).order_by(RaciRow.scope, RaciRow.ref, RaciRow.duty))
        return [
            {
                "scope": r.scope,
                "ref": r.ref,
                "duty": r.duty,
                "letter": r.letter,
                "person": r.person_id,
            }
            for r in rows
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
class _V:
    voter: str
    role: str
    vote: str


def tally(
    board: Board, votes: Sequence[dict[str, Any]], *, exclude: Iterable[str] = ()
) -> tuple[CrStatus, dict[str, Any]]:
    """Decide a change request's votes again without the votes of ``exclude`` (who may not
    count, like the authors of the model it is about); they cannot vote either."""
    out = set(exclude)
    kept = [_V(str(v["voter"]), str(v["role"]), str(v["vote"])) for v in votes]
    return _decide(board, [v for v in kept if v.voter not in out], out)


def _decide(
    board: Board, votes: Sequence[_Vote], excluded: Iterable[str] = ()
) -> tuple[CrStatus, dict[str, Any]]:
    """Approved: at least ``quorum`` approvals and every required role among the approvers.
    Rejected: too few members left who could still approve to reach the quorum or a
    required role."""
    approvers = [v for v in votes if v.vote == VoteChoice.APPROVE.value]
    roles = {v.role for v in approvers}
    missing = [r for r in board.required_roles if r not in roles]
    voted = {v.voter for v in votes} | set(excluded)
    could = len(approvers) + sum(1 for p, _r in board.members if p not in voted)
    pending_roles = {r for p, r in board.members if p not in voted}
    summary = {
        "approvals": len(approvers),
        "rejections": sum(1 for v in votes if v.vote == VoteChoice.REJECT.value),
        "quorum": board.quorum,
        "missing_roles": missing,
    }
    if len(approvers) >= board.quorum and not missing:
        return CrStatus.APPROVED, summary
    if could < board.quorum or any(r not in pending_roles for r in missing):
        return CrStatus.REJECTED, summary
    return CrStatus.OPEN, summary


ConflictCheck = Callable[[Workspace, str, str | None], Iterable[str]]
_CONFLICT_CHECKS: list[ConflictCheck] = []


def register_conflict_check(check: ConflictCheck) -> Callable[[], None]:
    """Let another room name who has a conflict of interest in a change request's target
    (``check(ws, target, target_digest)`` -> people): the registry names a model version's
    authors. They may not vote on it. Returns a function that unregisters the check."""
    _CONFLICT_CHECKS.append(check)

    def _remove() -> None:
        if check in _CONFLICT_CHECKS:
            _CONFLICT_CHECKS.remove(check)

    return _remove


def conflicted_voters(ws: Workspace, target: str, digest: str | None) -> set[str]:
    """Everyone a registered conflict check names for ``target``."""
    from bastion._plugins import load_checks

    load_checks()  # every room's module is imported, so its conflict check is registered
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
            row.decision = summary | {"conditions": list(row.conditions)}
            row.decided_at = _now()
            s.flush()
            _ledger(
                ws,
                s,
                "governance.change_request_decided",
                {"change_request": cr_id, "status": status.value, **summary},
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


# -- escalation matrix ----------------------------------------------------------------------


@dataclass(frozen=True)
class EscalationRoute:
    severity: Severity
    domain: Domain
    notify: tuple[str, ...]
    within: timedelta
    matrix_version: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity.value,
            "domain": self.domain.value,
            "notify": list(self.notify),
            "within_seconds": int(self.within.total_seconds()),
            "matrix_version": self.matrix_version,
        }


def set_escalation_matrix(
    ws: Workspace, matrix: EscalationMatrix, *, actor: str = "cli", session: Session | None = None
) -> int:
    """Store a new version of the matrix (when it differs); returns the current version."""
    matrix.check_complete()
    body = matrix.model_dump(mode="json")
    digest = _digest(body)

    def _do(s: Session) -> int:
        cur = s.scalars(select(EscalationRow).order_by(EscalationRow.version.desc())).first()
        if cur is not None and cur.digest == digest:
            return cur.version
        version = (cur.version if cur else 0) + 1
        s.add(
            EscalationRow(version=version, digest=digest, body=body, actor=actor, created_at=_now())
        )
        s.flush()
        _ledger(
            ws, s, "governance.escalation_matrix_set", {"version": version, "digest": digest}, actor
        )
        return version

    if session is not None:
        return _do(session)
    with ws.db.session() as s:
        return _do(s)


def get_escalation_matrix(ws: Workspace) -> tuple[int, EscalationMatrix]:
    with ws.db.session() as s:
        cur = s.scalars(select(EscalationRow).order_by(EscalationRow.version.desc())).first()
        if cur is None:
            raise NotFoundError(
                "no escalation matrix: set one with 'bastion governance apply FILE'"
            )
        return cur.version, EscalationMatrix.model_validate(cur.body)


def escalation_for(
    ws: Workspace, severity: Severity | str, domain: Domain | str
) -> EscalationRoute:
    """Who is notified, and within what time, for an event of ``severity`` in ``domain``."""
    try:
        sev = Severity(severity)
        dom = Domain(domain)
    except ValueError:
        raise InputError(
            f"severity must be one of {', '.join(s.value for s in Severity)} and domain one of "
            f"{', '.join(d.value for d in Domain)}"
        ) from None
    version, matrix = get_escalation_matrix(ws)
    rule = matrix.cell(sev, dom)
    return EscalationRoute(sev, dom, rule.notify, rule.deadline, version)


# -- the governance file ------------------------------------------------------------------------


def apply_config(
    ws: Workspace,
    cfg: GovernanceConfig,
    *,
    actor: str = "cli",
    approval: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply a governance file: upsert roles, people, RACI, boards and the escalation matrix
    in one transaction. Existing people keep their grants; a changed role set goes through
    :func:`transition_roles` so the access review is not skipped.

    Over the API a governance file is a two-person change (``propose_change`` then
    ``approve_change``, which passes ``approval``); a call without ``approval`` is the local
    administrator's break-glass path, and the ledger event says so."""
    proposer = str(approval["proposed_by"]) if approval else actor
    with ws.db.session() as s:
        for p in cfg.people:
            existing = s.get(PersonRow, p.id)
            if (
                p.id == proposer
                and existing is not None
                and sorted(existing.roles) != sorted(p.roles)
            ):
                raise PermissionDeniedError(
                    f"{proposer} cannot change their own roles through a governance file "
                    "(separation of duties)"
                )
    summary: dict[str, Any] = {"roles": 0, "people_added": [], "transitions": [], "raci": 0}
    with ws.db.session() as s:
        _ledger(
            ws,
            s,
            "governance.config_applied",
            {
                "digest": _digest(cfg.model_dump(mode="json")),
                "approval": dict(approval) if approval else None,
                "break_glass": approval is None,
            },
            actor,
        )
        for name, spec in cfg.roles.items():
            row = s.get(RoleRow, name)
            if row is None:
                s.add(RoleRow(role=name, description=spec.description, grants=list(spec.grants)))
            else:
                row.description = spec.description
                row.grants = list(spec.grants)
            summary["roles"] += 1
        s.flush()
        if cfg.roles:
            _ledger(
                ws,
                s,
                "governance.roles_set",
                {"roles": {k: list(v.grants) for k, v in cfg.roles.items()}},
                actor,
            )
        for p in cfg.people:
            existing = s.get(PersonRow, p.id)
            if existing is None:
                add_person(ws, p, actor=actor, session=s, review=False)
                summary["people_added"].append(p.id)
            elif sorted(existing.roles) != sorted(p.roles):
                summary["transitions"].append(p.id)
        for rc in cfg.raci:
            for duty, who in rc.duties().items():
                set_raci(ws, rc.scope, rc.ref, duty, who, actor=actor, session=s)
                summary["raci"] += 1
        for b in cfg.boards:
            members = [m.model_dump() for m in b.members]
            row_b = s.get(BoardRow, b.id)
            if row_b is None:
                row_b = BoardRow(
                    id=b.id,
                    name=b.name,
                    members=members,
                    quorum=b.quorum,
                    required_roles=list(b.required_roles),
                    updated_at=_now(),
                )
                s.add(row_b)
            else:
                row_b.name = b.name
                row_b.members = members
                row_b.quorum = b.quorum
                row_b.required_roles = list(b.required_roles)
                row_b.updated_at = _now()
            s.flush()
            _ledger(ws, s, "governance.board_set", _board(row_b).to_dict(), actor)
        summary["boards"] = [b.id for b in cfg.boards]
        if cfg.escalation is not None:
            summary["escalation_version"] = set_escalation_matrix(
                ws, cfg.escalation, actor=actor, session=s
            )
    reviews = []
    for pid in summary["transitions"]:
        person = next(p for p in cfg.people if p.id == pid)
        reviews.append(transition_roles(ws, pid, person.roles, actor=proposer).id)
    summary["access_reviews"] = reviews
    return summary


def _apply_proposed_config(
    ws: Workspace, body: dict[str, Any], actor: str, approval: dict[str, Any]
) -> dict[str, Any]:
    from bastion.governance._config import parse_config

    cfg = parse_config(str(body["yaml"]).encode(), "proposed governance file")
    return apply_config(ws, cfg, actor=actor, approval=approval)


register_change_kind(ChangeKind.GOVERNANCE_CONFIG, _apply_proposed_config)
