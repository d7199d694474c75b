"""Just-in-time grants: requested with a reason, approved with MFA, expiring on their own.

A grant is a database row, so every guard replica sees the same grants. A grant allows
one principal one action on one resource until ``expires_at`` (set at approval: approval
time plus the requested duration); expiry is checked at decision time, so no job has to
run. The approver needs the approve permission with a fresh TOTP code and may not approve
a request they made or one for themselves. Every state change and every use is a ledger
event, written in the same transaction as the row.

Replicas: :class:`GrantIndex` keeps the set of active grant scopes for ``ttl`` seconds
(default 2) so a decision without a grant costs no query; a scope it finds is re-read
from the database before it allows, so a revocation takes effect at once everywhere and
only a newly approved grant may take up to ``ttl`` to be seen by another replica.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bastion.access._tokens import Permission, Principal, require
from bastion.access.interface import Action, ResourceKind, ResourceRef
from bastion.access.policy._rows import GrantRow
from bastion.core.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from bastion.core.ledger import Event
from bastion.core.workspace import Workspace

__all__ = [
    "MAX_GRANT_DURATION",
    "Grant",
    "GrantIndex",
    "GrantStatus",
    "approve_grant",
    "deny_grant",
    "get_grant",
    "list_grants",
    "parse_duration",
    "parse_resource",
    "request_grant",
    "revoke_grant",
]

MAX_GRANT_DURATION = timedelta(days=7)
MIN_GRANT_DURATION = timedelta(seconds=5)
_PRINCIPAL = re.compile(r"^(user|workload|vendor):[A-Za-z0-9._@+-]{1,150}$")
_RID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/+-]{0,199}$")
_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_KINDS = {
    "endpoint": ResourceKind.ENDPOINT,
    "model_version": ResourceKind.MODEL_VERSION,
    "model-version": ResourceKind.MODEL_VERSION,
    "model": ResourceKind.MODEL_VERSION,
    "dataset": ResourceKind.DATASET,
}

#: Bumped by every approval in this process: indexes here refresh at once.
_generation = 0


class GrantStatus:
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    REVOKED = "revoked"


def parse_resource(text: str) -> ResourceRef:
    """``endpoint:scoring-api``, ``model_version:credit-gbm``, ``dataset:training-snapshot``."""
    kind, sep, rid = text.partition(":")
    if not sep or kind not in _KINDS or not _RID.match(rid):
        raise InputError(
            f"invalid resource {text[:100]!r}: expected KIND:ID with KIND one of "
            "endpoint, model_version, dataset"
        )
    return ResourceRef(_KINDS[kind], rid)


def parse_duration(text: str) -> timedelta:
    m = _DURATION.match(text.strip())
    if m is None:
        raise InputError(f"invalid duration {text[:50]!r}: expected e.g. 30m, 4h, 2d")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


@dataclass(frozen=True)
class Grant:
    id: str
    principal: str
    roles: tuple[str, ...]
    action: Action
    resource: ResourceRef
    reason: str
    duration: timedelta
    status: str  # as stored: pending|approved|denied|revoked
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    expires_at: datetime | None
    revoked_by: str | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    use_count: int

    def state(self, now: datetime | None = None) -> str:
        """pending, active, expired, denied or revoked."""
        if self.status != GrantStatus.APPROVED:
            return self.status
        now = now or datetime.now(UTC)
        assert self.expires_at is not None
        return "active" if self.expires_at > now else "expired"

    def to_dict(self) -> dict[str, Any]:
        def iso(t: datetime | None) -> str | None:
            return t.isoformat() if t else None

        return {
            "id": self.id,
            "principal": self.principal,
            "roles": list(self.roles),
            "action": self.action.value,
            "resource": f"{self.resource.kind.value}:{self.resource.id}",
            "reason": self.reason,
            "duration_s": int(self.duration.total_seconds()),
            "state": self.state(),
            "requested_by": self.requested_by,
            "requested_at": iso(self.requested_at),
            "decided_by": self.decided_by,
            "decided_at": iso(self.decided_at),
            "expires_at": iso(self.expires_at),
            "revoked_by": self.revoked_by,
            "revoked_at": iso(self.revoked_at),
            "last_used_at": iso(self.last_used_at),
            "use_count": self.use_count,
        }


def _grant(r: GrantRow) -> Grant:
    requested = _utc(r.requested_at)
    assert requested is not None
    return Grant(
        id=r.id,
        principal=r.principal,
        roles=tuple(json.loads(r.principal_roles or "[]")),
        action=Action(r.action),
        resource=ResourceRef(ResourceKind(r.resource_kind), r.resource_id),
        reason=r.reason,
        duration=timedelta(seconds=r.duration_s),
        status=r.status,
        requested_by=r.requested_by,
        requested_at=requested,
        decided_by=r.decided_by,
        decided_at=_utc(r.decided_at),
        expires_at=_utc(r.expires_at),
        revoked_by=r.revoked_by,
        revoked_at=_utc(r.revoked_at),
        last_used_at=_utc(r.last_used_at),
        use_count=r.use_count or 0,
    )


def _event(kind: str, g: GrantRow, actor: str, **extra: Any) -> Event:
    data: dict[str, Any] = {
        "grant_id": g.id,
        "principal": g.principal,
        "action": g.action,
        "resource": f"{g.resource_kind}:{g.resource_id}",
        "status": g.status,
    }
    data.update(extra)
    return Event(kind, data, actor)


def request_grant(
    ws: Workspace,
    principal: str,
    action: Action | str,
    resource: ResourceRef | str,
    reason: str,
    duration: timedelta | str,
    *,
    roles: tuple[str, ...] | list[str] = (),
    actor: str,
) -> Grant:
    """Ask for ``principal`` to be allowed ``action`` on ``resource`` for ``duration``."""
    if not _PRINCIPAL.match(principal):
        raise InputError(
            f"invalid principal {principal[:100]!r}: expected user:ID, workload:ID or vendor:ID"
        )
    try:
        act = Action(action)
    except ValueError:
        raise InputError(
            f"unknown action {str(action)[:50]!r}: one of {', '.join(a.value for a in Action)}"
        ) from None
    ref = parse_resource(resource) if isinstance(resource, str) else resource
    dur = parse_duration(duration) if isinstance(duration, str) else duration
    if not MIN_GRANT_DURATION <= dur <= MAX_GRANT_DURATION:
        raise InputError("a grant lasts from 5 seconds to 7 days")
    reason = reason.strip()
    if not 10 <= len(reason) <= 1000:
        raise InputError("a grant needs a reason of 10 to 1000 characters")
    for role in roles:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", role):
            raise InputError(f"invalid role {role[:70]!r}")
    now = datetime.now(UTC)
    row = GrantRow(
        id="grt_" + secrets.token_hex(10),
        principal=principal,
        principal_roles=json.dumps(sorted(set(roles))),
        action=act.value,
        resource_kind=ref.kind.value,
        resource_id=ref.id,
        reason=reason,
        duration_s=int(dur.total_seconds()),
        status=GrantStatus.PENDING,
        requested_by=actor,
        requested_at=now,
        use_count=0,
    )
    with ws.db.session() as s:
        s.add(row)
        s.flush()
        ev = _event("access.grant_requested", row, actor, reason=reason, duration_s=row.duration_s)
        ws.ledger.append([ev], session=s)
    return _grant(row)


def _locked(s: Session, grant_id: str) -> GrantRow:
    # First statement a write: the row lock, so two approvers cannot both decide.
    s.execute(update(GrantRow).where(GrantRow.id == grant_id).values(status=GrantRow.status))
    row = s.get(GrantRow, grant_id, populate_existing=True)
    if row is None:
        raise NotFoundError(f"no grant {grant_id[:60]!r}")
    return row


def _own(approver: Principal, row: GrantRow) -> bool:
    subject = row.principal.partition(":")[2]
    return approver.actor == row.requested_by or approver.name in (subject, row.principal)


def approve_grant(
    ws: Workspace, grant_id: str, approver: Principal, *, note: str | None = None
) -> Grant:
    """Approve a pending grant; it is active from now for its duration.

    ``approver`` must hold the approve permission with MFA verified (a fresh TOTP code,
    as :func:`bastion.access.authenticate` checks it) and must not be the requester or
    the grant's principal."""
    require(approver, Permission.APPROVE)
    global _generation
    with ws.db.session() as s:
        row = _locked(s, grant_id)
        if row.status != GrantStatus.PENDING:
            raise ConflictError(f"grant {grant_id} is {row.status}, not pending")
        if _own(approver, row):
            raise PermissionDeniedError("an approver may not approve their own request")
        now = datetime.now(UTC)
        row.status = GrantStatus.APPROVED
        row.decided_by, row.decided_at, row.decision_note = approver.actor, now, note
        row.expires_at = now + timedelta(seconds=row.duration_s)
        s.flush()
        ev = _event(
            "access.grant_approved", row, approver.actor, expires_at=row.expires_at.isoformat()
        )
        ws.ledger.append([ev], session=s)
    _generation += 1
    return _grant(row)


def deny_grant(
    ws: Workspace, grant_id: str, approver: Principal, *, note: str | None = None
) -> Grant:
    require(approver, Permission.APPROVE)
    with ws.db.session() as s:
        row = _locked(s, grant_id)
        if row.status != GrantStatus.PENDING:
            raise ConflictError(f"grant {grant_id} is {row.status}, not pending")
        row.status = GrantStatus.DENIED
        row.decided_by, row.decided_at = approver.actor, datetime.now(UTC)
        row.decision_note = note
        s.flush()
        ws.ledger.append([_event("access.grant_denied", row, approver.actor)], session=s)
    return _grant(row)


def revoke_grant(
    ws: Workspace, grant_id: str, actor: Principal, *, note: str | None = None
) -> Grant:
    """End a pending or approved grant now; the next decision on any replica sees it."""
    require(actor, Permission.APPROVE)
    with ws.db.session() as s:
        row = _locked(s, grant_id)
        if row.status not in (GrantStatus.PENDING, GrantStatus.APPROVED):
            raise ConflictError(f"grant {grant_id} is {row.status}; nothing to revoke")
        row.status = GrantStatus.REVOKED
        row.revoked_by, row.revoked_at = actor.actor, datetime.now(UTC)
        row.decision_note = note or row.decision_note
        s.flush()
        ws.ledger.append([_event("access.grant_revoked", row, actor.actor)], session=s)
    return _grant(row)


def get_grant(ws: Workspace, grant_id: str) -> Grant:
    with ws.db.session() as s:
        row = s.get(GrantRow, grant_id)
        if row is None:
            raise NotFoundError(f"no grant {grant_id[:60]!r}")
        return _grant(row)


def list_grants(
    ws: Workspace, *, state: str | None = None, principal: str | None = None, limit: int = 1000
) -> list[Grant]:
    """Grants, newest first; ``state`` is pending, active, expired, denied or revoked."""
    states = ("pending", "active", "expired", "denied", "revoked")
    if state is not None and state not in states:
        raise InputError(f"unknown state {state[:30]!r}: one of {', '.join(states)}")
    q = select(GrantRow).order_by(GrantRow.requested_at.desc())
    if principal:
        q = q.where(GrantRow.principal == principal)
    if state in ("active", "expired"):
        q = q.where(GrantRow.status == GrantStatus.APPROVED)
    elif state is not None:
        q = q.where(GrantRow.status == state)
    with ws.db.session() as s:
        got = [_grant(r) for r in s.scalars(q.limit(max(1, min(limit, 10_000))))]
    now = datetime.now(UTC)
    return [g for g in got if state is None or g.state(now) == state]


class GrantIndex:
    """The grant side of a decision, for :class:`~bastion.access.policy.PolicyEngine`."""

    def __init__(self, ws: Workspace, *, ttl: float = 2.0, write_every: float = 60.0) -> None:
        self.ws, self.ttl, self.write_every = ws, ttl, write_every
        #: grant id -> (when this process last wrote its uses, uses not written since)
        self._uses: dict[str, tuple[float, int]] = {}
        self._scopes: frozenset[tuple[str, str, str, str]] = frozenset()
        self._at = -1e9
        self._gen = -1
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._at = -1e9

    def _refresh(self) -> frozenset[tuple[str, str, str, str]]:
        now = time.monotonic()
        if now - self._at < self.ttl and self._gen == _generation:
            return self._scopes
        with self._lock:
            if now - self._at < self.ttl and self._gen == _generation:
                return self._scopes
            gen = _generation
            q = select(
                GrantRow.principal, GrantRow.action, GrantRow.resource_kind, GrantRow.resource_id
            ).where(
                GrantRow.status == GrantStatus.APPROVED, GrantRow.expires_at > datetime.now(UTC)
            )
            with self.ws.db.session() as s:
                self._scopes = frozenset((a, b, c, d) for a, b, c, d in s.execute(q))
            self._at, self._gen = time.monotonic(), gen
            return self._scopes

    def use(self, principal: str, action: Action, resource: ResourceRef) -> str | None:
        """The id of an active grant for exactly this scope, re-read from the database
        (so a revocation holds at once); None when there is none. Database errors
        propagate (the engine denies).

        Each use is audited by the engine's ``access.decision`` event, which names the
        grant. The row's ``use_count`` and ``last_used_at`` and an ``access.grant_used``
        event (with the uses since the last one) are written on a grant's first use in
        this process and then at most once per ``write_every`` seconds, so a busy grant
        does not cost a transaction per request."""
        key = (principal, action.value, resource.kind.value, resource.id)
        if key not in self._refresh():
            return None
        now = datetime.now(UTC)
        q = (
            select(GrantRow.id)
            .where(
                GrantRow.principal == principal,
                GrantRow.action == action.value,
                GrantRow.resource_kind == resource.kind.value,
                GrantRow.resource_id == resource.id,
                GrantRow.status == GrantStatus.APPROVED,
                GrantRow.expires_at > now,
            )
            .order_by(GrantRow.expires_at.desc())
            .limit(1)
        )
        with self.ws.db.session() as s:
            gid = s.scalars(q).first()
        if gid is None:
            self.invalidate()  # revoked or expired since the index was read
            return None
        mono = time.monotonic()
        with self._lock:
            last, pending = self._uses.get(gid, (-1e18, 0))
            pending += 1
            write = mono - last >= self.write_every
            self._uses[gid] = (mono, 0) if write else (last, pending)
            if len(self._uses) > 10_000:
                self._uses.pop(next(iter(self._uses)))
        if write:
            self._write(gid, principal, pending, now)
        return gid

    def _write(self, gid: str, principal: str, uses: int, now: datetime) -> None:
        with self.ws.db.session() as s:
            s.execute(
                update(GrantRow)
                .where(GrantRow.id == gid)
                .values(use_count=GrantRow.use_count + uses, last_used_at=now)
            )
            row = s.get(GrantRow, gid, populate_existing=True)
            assert row is not None
            ev = _event("access.grant_used", row, principal, uses=uses, use_count=row.use_count)
            self.ws.ledger.append([ev], session=s)

    def flush(self) -> None:
        """Write the uses not yet written (a process that stops calls it)."""
        with self._lock:
            pending = {g: n for g, (_, n) in self._uses.items() if n}
            self._uses = {g: (-1e18, 0) for g in self._uses}
        now = datetime.now(UTC)
        for gid, n in pending.items():
            self._write(gid, "system", n, now)
