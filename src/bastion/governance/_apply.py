"""The governance file applied: roles, people, RACI, boards and the escalation
matrix in one transaction, directly (the local break-glass path) or as an approved
proposal (:func:`apply_proposed_config`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bastion.core.errors import PermissionDeniedError
from bastion.core.workspace import Workspace
from bastion.governance._boards import _board
from bastion.governance._common import _digest, _ledger, _now
from bastion.governance._config import (
    GovernanceConfig,
    parse_config,
)
from bastion.governance._escalation import set_escalation_matrix
from bastion.governance._people import add_person
from bastion.governance._raci import set_raci
from bastion.governance._reviews import transition_roles
from bastion.governance._rows import (
    BoardRow,
    PersonRow,
    RoleRow,
)

__all__ = ["apply_config", "apply_proposed_config"]


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


def apply_proposed_config(
    ws: Workspace, body: dict[str, Any], actor: str, approval: dict[str, Any]
) -> dict[str, Any]:
    """What an approved ``governance_config`` proposal does (a :class:`ChangeApplier`)."""
    cfg = parse_config(str(body["yaml"]).encode(), "proposed governance file")
    return apply_config(ws, cfg, actor=actor, approval=approval)
