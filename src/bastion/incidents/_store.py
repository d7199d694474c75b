"""Incidents: open, link, note, assign, close. Every change is a timeline entry and a
ledger event (``incidents.<kind>``) written in the same transaction."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.core.errors import ConflictError, InputError, NotFoundError
from bastion.core.ledger import Event
from bastion.core.types import Severity
from bastion.core.workspace import Workspace
from bastion.incidents._rows import IncidentRow, LinkRow, StepRow, TimelineRow
from bastion.incidents.interface import Incident, IncidentStatus, StepRecord, TimelineEntry

__all__ = [
    "LINK_KINDS",
    "add_note",
    "assign",
    "close_incident",
    "get_incident",
    "incidents_for_detections",
    "link",
    "list_incidents",
    "open_incident",
    "record",
]

LINK_KINDS = ("event", "evidence", "detection", "artifact", "ledger")
_KIND = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_REF = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")  # printable: ids, uids, "kind:who:time"
MAX_TEXT = 4000
MAX_PARAMS = 50


def now() -> datetime:
    return datetime.now(UTC)


def utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def _text(value: str, what: str, limit: int = 300) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what}: must not be empty")
    if len(value) > limit:
        raise InputError(f"{what}: longer than {limit} characters")
    return value.strip()


def _params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in (params or {}).items():
        if not isinstance(k, str) or not _KIND.match(k):
            raise InputError(f"incident parameter {str(k)[:40]!r}: expected a lowercase name")
        if v is not None and not isinstance(v, (str, int, float, bool)):
            raise InputError(f"incident parameter {k}: expected a string or a number")
        if isinstance(v, str) and len(v) > 1000:
            raise InputError(f"incident parameter {k}: longer than 1000 characters")
        out[k] = v
    if len(out) > MAX_PARAMS:
        raise InputError(f"an incident takes at most {MAX_PARAMS} parameters")
    return out


def record(
    ws: Workspace, s: Session, incident_id: str, kind: str, data: Mapping[str, Any], actor: str
) -> int:
    """One timeline entry and its ledger event ``incidents.<kind>``, in ``s``."""
    body = {"incident": incident_id, **data}
    (entry,) = ws.ledger.append([Event(f"incidents.{kind}", body, actor)], session=s)
    s.add(
        TimelineRow(
            incident_id=incident_id, at=now(), actor=actor, kind=kind, data=dict(data),
            ledger_seq=entry.seq,
        )
    )  # fmt: skip
    return entry.seq


def _row(s: Session, incident_id: str) -> IncidentRow:
    row = s.get(IncidentRow, incident_id)
    if row is None:
        raise NotFoundError(f"no incident {incident_id[:40]!r}")
    return row


def _link(s: Session, incident_id: str, kind: str, ref: str, actor: str) -> bool:
    if kind not in LINK_KINDS:
        raise InputError(f"link kind {kind[:20]!r}: expected one of {', '.join(LINK_KINDS)}")
    if not _REF.match(ref):
        raise InputError(f"link {kind}: expected 1 to 200 printable characters")
    exists = s.scalars(
        select(LinkRow).where(
            LinkRow.incident_id == incident_id, LinkRow.link_kind == kind, LinkRow.ref == ref
        )
    ).first()
    if exists is not None:
        return False
    s.add(LinkRow(incident_id=incident_id, link_kind=kind, ref=ref, added_by=actor, added_at=now()))
    return True


def open_incident(
    ws: Workspace,
    title: str,
    *,
    kind: str,
    severity: Severity | str,
    owner: str,
    actor: str,
    params: Mapping[str, Any] | None = None,
    links: Sequence[tuple[str, str]] = (),
) -> Incident:
    """Open an incident (``kind``: a detection kind such as ``extraction``, or any
    lowercase name); ``params`` are what its playbooks act on (``model``, ``token_id`` ...);
    ``links`` are ``(kind, ref)`` pairs: events, evidence, detections, artifacts."""
    title = _text(title, "title")
    owner = _text(owner, "owner", 200)
    if not _KIND.match(kind):
        raise InputError(f"incident kind {kind[:40]!r}: expected a lowercase name")
    try:
        sev = Severity(severity)
    except ValueError:
        raise InputError(
            f"severity must be one of {', '.join(s.value for s in Severity)}"
        ) from None
    p = _params(params)
    iid = str(uuid.uuid4())
    with ws.db.session() as s:
        s.add(
            IncidentRow(
                id=iid, title=title, kind=kind, severity=sev.value,
                status=IncidentStatus.OPEN.value, owner=owner, params=p, created_by=actor,
                created_at=now(),
            )
        )  # fmt: skip
        s.flush()
        added = [(k, r) for k, r in links if _link(s, iid, k, r, actor)]
        record(
            ws, s, iid, "opened",
            {"title": title, "kind": kind, "severity": sev.value, "owner": owner,
             "params": sorted(p), "links": [f"{k}:{r}" for k, r in added]},
            actor,
        )  # fmt: skip
    return get_incident(ws, iid)


def link(ws: Workspace, incident_id: str, kind: str, ref: str, *, actor: str) -> Incident:
    with ws.db.session() as s:
        row = _row(s, incident_id)
        if _link(s, row.id, kind, ref, actor):
            record(ws, s, row.id, "linked", {"link": kind, "ref": ref}, actor)
    return get_incident(ws, incident_id)


def add_note(ws: Workspace, incident_id: str, note: str, *, actor: str) -> Incident:
    note = _text(note, "note", MAX_TEXT)
    with ws.db.session() as s:
        row = _row(s, incident_id)
        record(ws, s, row.id, "note", {"note": note}, actor)
    return get_incident(ws, incident_id)


def assign(ws: Workspace, incident_id: str, owner: str, *, actor: str) -> Incident:
    owner = _text(owner, "owner", 200)
    with ws.db.session() as s:
        row = _row(s, incident_id)
        if row.status == IncidentStatus.CLOSED.value:
            raise ConflictError(f"incident {incident_id} is closed")
        before, row.owner = row.owner, owner
        record(ws, s, row.id, "assigned", {"from": before, "to": owner}, actor)
    return get_incident(ws, incident_id)


def set_status(
    ws: Workspace, s: Session, row: IncidentRow, status: IncidentStatus, actor: str
) -> None:
    if row.status == status.value:
        return
    before, row.status = row.status, status.value
    record(ws, s, row.id, "status", {"from": before, "to": status.value}, actor)


def close_incident(ws: Workspace, incident_id: str, *, resolution: str, actor: str) -> Incident:
    """Close an incident with its resolution. Steps still pending are recorded as left
    open at closing (named in the ``closed`` event), never silently dropped."""
    resolution = _text(resolution, "resolution", MAX_TEXT)
    with ws.db.session() as s:
        row = _row(s, incident_id)
        if row.status == IncidentStatus.CLOSED.value:
            raise ConflictError(f"incident {incident_id} is already closed")
        pending = [
            st.step
            for st in s.scalars(select(StepRow).where(StepRow.incident_id == row.id))
            if st.status == "pending"
        ]
        row.status = IncidentStatus.CLOSED.value
        row.closed_at, row.closed_by, row.resolution = now(), actor, resolution
        record(ws, s, row.id, "closed", {"resolution": resolution, "pending_steps": pending}, actor)
    return get_incident(ws, incident_id)


def _incident(s: Session, row: IncidentRow, *, full: bool) -> Incident:
    links: tuple[tuple[str, str], ...] = ()
    timeline: tuple[TimelineEntry, ...] = ()
    steps: tuple[StepRecord, ...] = ()
    if full:
        links = tuple(
            (x.link_kind, x.ref)
            for x in s.scalars(
                select(LinkRow).where(LinkRow.incident_id == row.id).order_by(LinkRow.id)
            )
        )
        timeline = tuple(
            TimelineEntry(utc(t.at) or now(), t.actor, t.kind, t.data, t.ledger_seq)
            for t in s.scalars(
                select(TimelineRow)
                .where(TimelineRow.incident_id == row.id)
                .order_by(TimelineRow.id)
            )
        )
        steps = tuple(
            StepRecord(
                st.run_id, st.playbook, st.step, st.title, tuple(st.owners), utc(st.deadline),
                st.status, utc(st.completed_at),
            )
            for st in s.scalars(
                select(StepRow).where(StepRow.incident_id == row.id).order_by(StepRow.id)
            )
        )  # fmt: skip
    return Incident(
        id=row.id, title=row.title, kind=row.kind, severity=row.severity,
        status=IncidentStatus(row.status), owner=row.owner, params=dict(row.params),
        created_by=row.created_by, created_at=utc(row.created_at) or now(),
        closed_at=utc(row.closed_at), resolution=row.resolution, links=links,
        timeline=timeline, steps=steps,
    )  # fmt: skip


def get_incident(ws: Workspace, incident_id: str) -> Incident:
    with ws.db.session() as s:
        return _incident(s, _row(s, incident_id), full=True)


def list_incidents(
    ws: Workspace, *, status: IncidentStatus | str | None = None, limit: int = 100
) -> list[Incident]:
    """Newest first; ``status`` filters."""
    q = select(IncidentRow).order_by(IncidentRow.created_at.desc()).limit(max(1, min(limit, 1000)))
    if status is not None:
        try:
            q = q.where(IncidentRow.status == IncidentStatus(status).value)
        except ValueError:
            raise InputError(
                f"status must be one of {', '.join(x.value for x in IncidentStatus)}"
            ) from None
    with ws.db.session() as s:
        return [_incident(s, r, full=False) for r in s.scalars(q)]


def incidents_for_detections(ws: Workspace, uids: Sequence[str]) -> dict[str, str]:
    """``finding_uid -> incident id`` for the detections an incident was opened from (or
    linked to); the newest link wins."""
    wanted = [u for u in uids if isinstance(u, str) and u][:1000]
    if not wanted:
        return {}
    with ws.db.session() as s:
        rows = s.scalars(
            select(LinkRow)
            .where(LinkRow.link_kind == "detection", LinkRow.ref.in_(wanted))
            .order_by(LinkRow.id)
        )
        return {r.ref: r.incident_id for r in rows}
