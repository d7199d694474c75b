"""People and their grants. Every change is a ledger event, written in the same
transaction as the change; new roles count only after an access review (``_reviews``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.core.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from bastion.core.workspace import Workspace
from bastion.governance._common import _ledger, _now
from bastion.governance._config import (
    PersonSpec,
)
from bastion.governance._reviews import ReviewTrigger, _open_review
from bastion.governance._rows import (
    GrantRow,
    PersonRow,
    RoleRow,
)

__all__ = [
    "Person",
    "add_person",
    "get_person",
    "grant_access",
    "list_people",
]


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
