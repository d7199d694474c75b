"""The incidents room's interface: its data types, its error, and the hooks (Protocols)
through which playbook actions reach other rooms. ``bastion.wiring`` plugs the rooms'
public functions in; an action whose hook nobody offers fails closed with a clear reason
(it is recorded as failed, never reported as done).

- :class:`TokenRevoker`: revoke an API token (offered by ``bastion.access.revoke_token``).
- :class:`GrantSuspender`: suspend a just-in-time grant (offered by the access room when
  it has grants).
- :class:`ModelRollback`: roll a model back to its last version whose signature still
  verifies and whose gate passed (``bastion.registry.rollback_to_last_good``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from bastion.core.errors import InputError

if TYPE_CHECKING:
    from bastion.core.workspace import Workspace

__all__ = [
    "ActionResult",
    "GrantSuspender",
    "Incident",
    "IncidentStatus",
    "ModelRollback",
    "PlaybookError",
    "StepRecord",
    "TimelineEntry",
    "TokenRevoker",
]


class PlaybookError(InputError):
    """A playbook that does not validate (an unknown action or trigger, a bad deadline,
    a missing parameter); the message names the playbook and the field."""

    title = "Invalid playbook"


class IncidentStatus(enum.StrEnum):
    OPEN = "open"
    CONTAINED = "contained"
    CLOSED = "closed"


class TokenRevoker(Protocol):
    def __call__(self, ws: Workspace, token_id: str, actor: str, /) -> object: ...


class GrantSuspender(Protocol):
    def __call__(self, ws: Workspace, grant_id: str, actor: str, reason: str, /) -> object: ...


class ModelRollback(Protocol):
    def __call__(self, ws: Workspace, name: str, *, reason: str, actor: str) -> object: ...


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    actor: str
    kind: str
    data: Mapping[str, Any]
    ledger_seq: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "actor": self.actor,
            "kind": self.kind,
            "data": dict(self.data),
            "ledger_seq": self.ledger_seq,
        }


@dataclass(frozen=True)
class StepRecord:
    run_id: str
    playbook: str
    step: str
    title: str
    owners: tuple[str, ...]
    deadline: datetime | None
    status: str
    completed_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "playbook": self.playbook,
            "step": self.step,
            "title": self.title,
            "owners": list(self.owners),
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "status": self.status,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
        }


@dataclass(frozen=True)
class Incident:
    id: str
    title: str
    kind: str
    severity: str
    status: IncidentStatus
    owner: str
    params: Mapping[str, Any]
    created_by: str
    created_at: datetime
    closed_at: datetime | None = None
    resolution: str | None = None
    links: tuple[tuple[str, str], ...] = ()
    timeline: tuple[TimelineEntry, ...] = ()
    steps: tuple[StepRecord, ...] = ()

    def to_dict(self, *, full: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "severity": self.severity,
            "status": self.status.value,
            "owner": self.owner,
            "params": dict(self.params),
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "resolution": self.resolution,
        }
        if full:
            d["links"] = [{"kind": k, "ref": r} for k, r in self.links]
            d["timeline"] = [t.to_dict() for t in self.timeline]
            d["steps"] = [s.to_dict() for s in self.steps]
        return d


@dataclass(frozen=True)
class ActionResult:
    step: str
    action: str
    ok: bool
    detail: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "action": self.action,
            "ok": self.ok,
            "detail": self.detail,
            "data": dict(self.data),
        }
