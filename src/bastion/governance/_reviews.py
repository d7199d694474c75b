"""Access reviews and role transitions: a role change opens a review of every grant
against the new roles, and a second person attests it (the two-person rule).
"""

from __future__ import annotations

import enum
import fnmatch
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bastion.core.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from bastion.core.workspace import Workspace
from bastion.governance._common import _iso, _ledger, _now, _utc
from bastion.governance._rows import (
    GrantRow,
    PersonRow,
    ReviewRow,
    RoleRow,
)

__all__ = [
    "AccessReview",
    "ReviewTrigger",
    "complete_access_review",
    "list_access_reviews",
    "start_access_review",
    "transition_roles",
]


# -- access reviews ------------------------------------------------------------------------


def _allowed(s: Session, roles: Iterable[str]) -> list[str]:
    patterns: list[str] = []
    for r in roles:
        row = s.get(RoleRow, r)
        if row is not None:
            patterns.extend(row.grants)
    return patterns


def _keeps(grant: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(grant, p) for p in patterns)


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
