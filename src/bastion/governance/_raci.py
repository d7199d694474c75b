"""Ownership: who is responsible, accountable, consulted and informed for a system
or an asset (RACI).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.core.errors import InputError, NotFoundError
from bastion.core.workspace import Workspace
from bastion.governance._common import _ledger, _now
from bastion.governance._config import (
    Duty,
)
from bastion.governance._rows import (
    PersonRow,
    RaciRow,
)

__all__ = [
    "list_raci",
    "raci_for",
    "set_raci",
]


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
