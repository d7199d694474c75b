"""The escalation matrix: who is notified, and within what time, for an event of a
severity in a domain. Versioned; every new version is a ledger event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.core.errors import InputError, NotFoundError
from bastion.core.types import Severity
from bastion.core.workspace import Workspace
from bastion.governance._common import _digest, _ledger, _now
from bastion.governance._config import (
    Domain,
    EscalationMatrix,
)
from bastion.governance._rows import (
    EscalationRow,
)

__all__ = [
    "EscalationRoute",
    "escalation_for",
    "get_escalation_matrix",
    "set_escalation_matrix",
]


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
