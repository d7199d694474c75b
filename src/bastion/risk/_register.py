"""The risk register: risks with stable IDs, owners, a status lifecycle and its history.

Every change is a row of ``risk_history`` and a ledger event in the same transaction.
Status changes are compare-and-swap on ``version`` (``UPDATE ... WHERE version = v``), so
two concurrent changes of one risk never both apply, on SQLite or PostgreSQL; the loser
gets a ConflictError and the state it lost to stays as it was.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    select,
    update,
)
from sqlalchemy.orm import Session

from bastion.access import Principal, Role
from bastion.core.canonical import canonical_json
from bastion.core.checks import record_evidence
from bastion.core.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from bastion.core.ledger import Event
from bastion.core.types import Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.manifest import SystemManifest
from bastion.risk._checks import RiskSimulationCheck, RiskTierCheck, RiskTierData
from bastion.risk._rows import RiskHistoryRow, RiskRow

__all__ = [
    "ALLOWED_TRANSITIONS",
    "RiskRecord",
    "RiskStatus",
    "TierRating",
    "accept_risk",
    "add_risk",
    "get_risk",
    "latest_tier",
    "list_risks",
    "record_simulation",
    "register_from_threats",
    "scenario_document",
    "update_risk",
]


class RiskStatus(enum.StrEnum):
    IDENTIFIED = "identified"
    ANALYZED = "analyzed"
    TREATING = "treating"
    ACCEPTED = "accepted"
    MITIGATED = "mitigated"
    TRANSFERRED = "transferred"
    CLOSED = "closed"


S = RiskStatus
ALLOWED_TRANSITIONS: dict[RiskStatus, frozenset[RiskStatus]] = {
    S.IDENTIFIED: frozenset({S.ANALYZED, S.TREATING, S.TRANSFERRED, S.CLOSED}),
    S.ANALYZED: frozenset({S.TREATING, S.ACCEPTED, S.TRANSFERRED, S.MITIGATED, S.CLOSED}),
    S.TREATING: frozenset({S.MITIGATED, S.ACCEPTED, S.TRANSFERRED, S.ANALYZED}),
    S.ACCEPTED: frozenset({S.ANALYZED, S.TREATING, S.CLOSED}),
    S.MITIGATED: frozenset({S.ANALYZED, S.CLOSED}),
    S.TRANSFERRED: frozenset({S.ANALYZED, S.CLOSED}),
    S.CLOSED: frozenset({S.IDENTIFIED}),
}
_TEXT_MAX = 4000


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    change: str
    from_status: str | None
    to_status: str | None
    actor: str
    note: str | None
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "change": self.change,
            "from": self.from_status,
            "to": self.to_status,
            "actor": self.actor,
            "note": self.note,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class RiskRecord:
    id: str
    system_id: str
    rule_id: str
    element_id: str
    title: str
    owner: str
    status: RiskStatus
    treatment: str | None
    threats: tuple[str, ...]
    scenarios: tuple[str, ...]
    summary: Mapping[str, Any] | None
    accepted_by: str | None
    accepted_until: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    history: tuple[HistoryEntry, ...] = ()

    @property
    def acceptance_expired(self) -> bool:
        return (
            self.status is RiskStatus.ACCEPTED
            and self.accepted_until is not None
            and self.accepted_until <= datetime.now(UTC)
        )

    def to_dict(self, with_history: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "system": self.system_id,
            "rule_id": self.rule_id,
            "element_id": self.element_id,
            "title": self.title,
            "owner": self.owner,
            "status": self.status.value,
            "treatment": self.treatment,
            "threats": list(self.threats),
            "scenarios": list(self.scenarios),
            "summary": dict(self.summary) if self.summary else None,
            "accepted_by": self.accepted_by,
            "accepted_until": self.accepted_until.isoformat() if self.accepted_until else None,
            "acceptance_expired": self.acceptance_expired,
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
        if with_history:
            d["history"] = [h.to_dict() for h in self.history]
        return d


def _record(r: RiskRow, history: Sequence[RiskHistoryRow] = ()) -> RiskRecord:
    created, updated = _utc(r.created_at), _utc(r.updated_at)
    assert created is not None
    assert updated is not None
    return RiskRecord(
        r.id,
        r.system_id,
        r.rule_id,
        r.element_id,
        r.title,
        r.owner,
        RiskStatus(r.status),
        r.treatment,
        tuple(r.threats or ()),
        tuple(r.scenarios or ()),
        r.summary,
        r.accepted_by,
        _utc(r.accepted_until),
        r.version,
        created,
        updated,
        tuple(
            HistoryEntry(
                h.version,
                h.change,
                h.from_status,
                h.to_status,
                h.actor,
                h.note,
                _utc(h.created_at) or created,
            )
            for h in history
        ),
    )


def _text(name: str, v: str | None, limit: int = _TEXT_MAX, required: bool = False) -> str | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise InputError(f"risk {name} is empty; fix: give a {name}")
        return None
    if len(v) > limit:
        raise InputError(f"risk {name} is {len(v)} characters; fix: keep it under {limit}")
    return v


def _status(v: str | RiskStatus) -> RiskStatus:
    try:
        return RiskStatus(v)
    except ValueError:
        raise InputError(
            f"unknown risk status {v!r}; fix: use one of {', '.join(s.value for s in RiskStatus)}"
        ) from None


def _history(
    s: Session,
    ws: Workspace,
    row: RiskRow,
    change: str,
    actor: str,
    *,
    frm: str | None = None,
    to: str | None = None,
    note: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    now = datetime.now(UTC)
    s.add(
        RiskHistoryRow(
            risk_id=row.id,
            version=row.version,
            change=change,
            from_status=frm,
            to_status=to,
            actor=actor,
            note=note,
            data=dict(data or {}),
            created_at=now,
        )
    )
    event = {"risk_id": row.id, "system": row.system_id, "version": row.version, "change": change}
    if frm is not None or to is not None:
        event |= {"from": frm, "to": to}
    event |= dict(data or {})
    ws.ledger.append([Event(f"risk.{change}", event, actor)], session=s)


def _stable_id(system_id: str, rule_id: str, element_id: str) -> str:
    from bastion.risk._threats import risk_id

    return risk_id(system_id, rule_id, element_id)


def add_risk(
    ws: Workspace,
    *,
    system_id: str,
    rule_id: str,
    element_id: str,
    title: str,
    owner: str,
    treatment: str | None = None,
    threats: Iterable[str] = (),
    scenarios: Iterable[str] = (),
    actor: str = "cli",
) -> RiskRecord:
    """Register a risk in status ``identified``; its id derives from system, rule and element."""
    for name, v, lim in (
        ("system", system_id, 64),
        ("rule", rule_id, 200),
        ("element", element_id, 200),
    ):
        _text(name, v, lim, required=True)
    _text("title", title, 300, required=True)
    _text("owner", owner, 200, required=True)
    _text("treatment", treatment)
    rid = _stable_id(system_id, rule_id, element_id)
    now = datetime.now(UTC)
    with ws.db.session() as s:
        if s.get(RiskRow, rid) is not None:
            raise ConflictError(
                f"risk {rid} ({system_id}/{rule_id}/{element_id}) is already registered"
            )
        row = RiskRow(
            id=rid,
            system_id=system_id,
            rule_id=rule_id,
            element_id=element_id,
            title=title,
            owner=owner,
            status=RiskStatus.IDENTIFIED.value,
            treatment=treatment,
            threats=sorted(set(threats)),
            scenarios=sorted(set(scenarios)),
            summary=None,
            version=1,
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        s.flush()
        _history(s, ws, row, "created", actor, to=row.status, data={"title": title, "owner": owner})
        return _record(row)


def get_risk(ws: Workspace, risk_id: str) -> RiskRecord:
    with ws.db.session() as s:
        row = s.get(RiskRow, risk_id)
        if row is None:
            raise NotFoundError(f"no risk {risk_id!r} in the register")
        hist = s.scalars(
            select(RiskHistoryRow)
            .where(RiskHistoryRow.risk_id == risk_id)
            .order_by(RiskHistoryRow.version)
        ).all()
        return _record(row, hist)


def list_risks(
    ws: Workspace, *, system: str | None = None, status: str | None = None, owner: str | None = None
) -> list[RiskRecord]:
    q = select(RiskRow).order_by(RiskRow.system_id, RiskRow.id)
    if system:
        q = q.where(RiskRow.system_id == system)
    if status:
        q = q.where(RiskRow.status == _status(status).value)
    if owner:
        q = q.where(RiskRow.owner == owner)
    with ws.db.session() as s:
        return [_record(r) for r in s.scalars(q)]


def _cas(s: Session, row: RiskRow, expected_version: int | None, values: Mapping[str, Any]) -> None:
    """Apply ``values`` only if nobody changed the risk since we read it."""
    v = row.version if expected_version is None else expected_version
    res = s.execute(
        update(RiskRow)
        .where(RiskRow.id == row.id, RiskRow.version == v, RiskRow.status == row.status)
        .values(version=v + 1, updated_at=datetime.now(UTC), **values)
        .execution_options(synchronize_session=False)
    )
    if getattr(res, "rowcount", 0) != 1:
        raise ConflictError(
            f"risk {row.id} changed since version {v} was read; reload it and retry"
        )
    s.refresh(row)


def _load(s: Session, risk_id: str) -> RiskRow:
    row = s.get(RiskRow, risk_id)
    if row is None:
        raise NotFoundError(f"no risk {risk_id!r} in the register")
    return row


def _check_transition(row: RiskRow, to: RiskStatus) -> None:
    frm = RiskStatus(row.status)
    if to not in ALLOWED_TRANSITIONS[frm]:
        allowed = ", ".join(sorted(t.value for t in ALLOWED_TRANSITIONS[frm]))
        raise ConflictError(
            f"risk {row.id}: cannot go from {frm.value} to {to.value}; allowed from {frm.value}: {allowed}"
        )


def update_risk(
    ws: Workspace,
    risk_id: str,
    *,
    status: str | RiskStatus | None = None,
    owner: str | None = None,
    treatment: str | None = None,
    note: str | None = None,
    expected_version: int | None = None,
    actor: str = "cli",
) -> RiskRecord:
    """Change status (by the transition table), owner or treatment plan; ledgered."""
    _text("note", note)
    _text("treatment", treatment)
    if owner is not None:
        _text("owner", owner, 200, required=True)
    to = _status(status) if status is not None else None
    if to is RiskStatus.ACCEPTED:
        raise InputError(
            f"risk {risk_id}: acceptance needs an expiry and, above appetite, an approver; fix: use 'bastion risk register accept'"
        )
    if to is None and owner is None and treatment is None:
        raise InputError("nothing to change; fix: give --status, --owner or --treatment")
    with ws.db.session() as s:
        row = _load(s, risk_id)
        frm = row.status
        values: dict[str, Any] = {}
        if to is not None:
            _check_transition(row, to)
            values["status"] = to.value
            if RiskStatus(frm) is RiskStatus.ACCEPTED:
                values |= {"accepted_by": None, "accepted_until": None}
        if owner is not None:
            values["owner"] = owner
        if treatment is not None:
            values["treatment"] = treatment
        _cas(s, row, expected_version, values)
        data: dict[str, Any] = {}
        if owner is not None:
            data["owner"] = owner
        if treatment is not None:
            data["treatment_changed"] = True
        if to is not None:
            _history(
                s, ws, row, "status_changed", actor, frm=frm, to=to.value, note=note, data=data
            )
        else:
            _history(s, ws, row, "updated", actor, note=note, data=data)
        return _record(row)


@dataclass(frozen=True)
class TierRating:
    """A system's tier as gates and acceptances use it: the typed ``risk.tier`` data of a
    trusted rating, with the evidence that carries it."""

    data: RiskTierData
    evidence_id: str
    rated_by: str
    manifest_digest: str

    @property
    def tier(self) -> int:
        return self.data.tier

    @property
    def name(self) -> str:
        return self.data.name

    @property
    def appetite_p90(self) -> float:
        return self.data.appetite_p90

    @property
    def acceptance_max_days(self) -> int:
        return self.data.acceptance_max_days

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (API, CLI): the rating's fields, the evidence id, who rated it."""
        keep = (
            *("system", "tier", "name", "scores", "rule", "why", "policy_version"),
            *("appetite_p90", "acceptance_max_days", "required_controls", "required_approvals"),
        )
        raw = self.data.model_dump(mode="json")
        return {k: raw[k] for k in keep if k in raw} | {
            "evidence_id": self.evidence_id,
            "rated_by": self.rated_by,
            "manifest_digest": self.manifest_digest,
        }


def latest_tier(ws: Workspace, system_id: str) -> TierRating | None:
    """The system's tier as gates and acceptances use it: the newest trusted ``risk.tier``
    rating of its current inventory manifest (see :func:`trusted_tier`), or None."""
    from bastion.risk._checks import trusted_tier

    ev, _notes = trusted_tier(ws, system_id)
    if ev is None:
        return None
    return TierRating(
        data=RiskTierCheck.read(ev),
        evidence_id=ev.id,
        rated_by=ev.actor,
        manifest_digest=ev.subject.digest or "",
    )


def accept_risk(
    ws: Workspace,
    risk_id: str,
    *,
    expires: date | datetime,
    note: str | None = None,
    approver: Principal | None = None,
    expected_version: int | None = None,
    actor: str = "cli",
) -> RiskRecord:
    """Accept a risk until ``expires``.

    When the risk's latest P90 annual loss exceeds its system's tier appetite (or either is
    unknown: fail closed), only a principal with the approver role and a verified MFA code
    may accept. The expiry must be in the future and within the tier's longest acceptance.
    """
    _text("note", note)
    until = (
        expires
        if isinstance(expires, datetime)
        else datetime.combine(expires, time(23, 59, 59), UTC)
    )
    until = _utc(until) or until
    now = datetime.now(UTC)
    if until <= now:
        raise InputError(
            f"acceptance expiry {until.date()} is not in the future; fix: give a later date"
        )
    with ws.db.session() as s:
        system_id = _load(s, risk_id).system_id
    # Only a trusted rating of the system's current manifest sets the appetite: an
    # engineer's rating of a doctored manifest is no tier at all (fail closed).
    tier = latest_tier(ws, system_id)
    with ws.db.session() as s:
        row = _load(s, risk_id)
        _check_transition(row, RiskStatus.ACCEPTED)
        p90 = (row.summary or {}).get("p90")
        appetite = tier.appetite_p90 if tier else None
        over = p90 is None or appetite is None or float(p90) > float(appetite)
        if tier is not None:
            longest = tier.acceptance_max_days
            if until > now + timedelta(days=longest):
                raise InputError(
                    f"acceptance until {until.date()} is longer than tier {tier.tier} allows ({longest} days); fix: give an earlier expiry"
                )
        if over:
            why = (
                "no simulation summary"
                if p90 is None
                else "no tier assigned to the system (by a trusted rating of its current "
                "inventory manifest)"
                if appetite is None
                else f"P90 annual loss {float(p90):,.0f} exceeds the tier {tier.tier if tier else '?'} appetite {float(appetite):,.0f}"
            )
            if approver is None or approver.role is not Role.APPROVER:
                raise PermissionDeniedError(
                    f"risk {risk_id}: {why}; accepting it needs the approver role (give --approver-token and --otp)"
                )
            if not approver.mfa_verified:
                raise PermissionDeniedError(
                    f"risk {risk_id}: {why}; the approver must verify MFA with a current one-time code"
                )
        by = approver.actor if approver is not None else actor
        frm = row.status
        _cas(
            s,
            row,
            expected_version,
            {"status": RiskStatus.ACCEPTED.value, "accepted_by": by, "accepted_until": until},
        )
        _history(
            s,
            ws,
            row,
            "status_changed",
            by,
            frm=frm,
            to=RiskStatus.ACCEPTED.value,
            note=note,
            data={
                "accepted_until": until.isoformat(),
                "p90": p90,
                "appetite_p90": appetite,
                "over_appetite": over,
                "tier_evidence": tier.evidence_id if tier else None,
                "mfa": bool(approver is not None and approver.mfa_verified),
            },
        )
        return _record(row)


def record_simulation(ws: Workspace, result: Any, *, actor: str = "cli") -> list[str]:
    """Store each scenario's summary on the risks it links (by ``risk`` or scenario id).

    A ``risk`` link to a risk that is not in the register is refused before anything is
    stored: silently skipping it would leave the register without the scenario's P90.
    """
    from bastion.risk._threats import check_references

    updated: list[str] = []
    with ws.db.session() as s:
        linked = {sc.risk for sc in (r.scenario for r in result.results) if sc.risk}
        known = (
            set(s.scalars(select(RiskRow.id).where(RiskRow.id.in_(linked)))) if linked else set()
        )
        check_references(result.scenarios, risks=known)
        for r in result.results:
            sc = r.scenario
            rows: list[RiskRow] = []
            if sc.risk:
                row = s.get(RiskRow, sc.risk)
                if row is not None:
                    rows.append(row)
            for row in s.scalars(select(RiskRow)):
                if sc.id in (row.scenarios or ()) and row not in rows:
                    rows.append(row)
            summary = {
                "scenario": sc.id,
                "currency": result.scenarios.currency,
                "iterations": result.iterations,
                "seed": result.seed,
                **{k: v for k, v in r.summary.to_dict().items() if k != "prob_exceed"},
                "at": datetime.now(UTC).isoformat(),
            }
            for row in rows:
                scen = sorted({*(row.scenarios or ()), sc.id})
                _cas(s, row, None, {"summary": summary, "scenarios": scen})
                _history(
                    s,
                    ws,
                    row,
                    "simulated",
                    actor,
                    data={"scenario": sc.id, "mean": r.summary.mean, "p90": r.summary.p90},
                )
                updated.append(row.id)
        _simulation_evidence(ws, s, result, updated, actor)
    return updated


def scenario_document(ss: Any) -> dict[str, Any]:
    """The scenarios document a ScenarioSet was parsed from (each scenario's raw entry)."""
    doc: dict[str, Any] = {
        "apiVersion": "bastion/v1",
        "kind": "RiskScenarios",
        "currency": ss.currency,
        "thresholds": list(ss.thresholds),
        "tolerance": [{"loss": t.loss, "probability": t.probability} for t in ss.tolerance],
        "scenarios": [dict(sc.raw) for sc in ss.scenarios],
    }
    if ss.correlation is not None:
        ids, matrix = ss.correlation
        doc["correlation"] = {"scenarios": list(ids), "matrix": [list(r) for r in matrix]}
    return doc


def _simulation_evidence(
    ws: Workspace, s: Session, result: Any, updated: Sequence[str], actor: str
) -> None:
    """``risk.simulation`` evidence (:class:`RiskSimulationCheck`, through the typed
    recorder): the scenarios document with its seed and iterations, so the simulation can
    be re-run exactly (it is deterministic) to draw its charts."""
    doc = scenario_document(result.scenarios)
    digest = "sha256:" + hashlib.sha256(canonical_json(doc)).hexdigest()
    out = result.to_dict()
    breaches = out["tolerance_breaches"]
    record_evidence(
        ws,
        RiskSimulationCheck,
        Subject("risk_scenarios", str(result.scenarios.source)[:200], digest),
        verdict=Verdict.WARN if breaches else Verdict.PASS,
        data={**out, "document": doc, "recorded_on": list(updated)},
        actor=actor,
        session=s,
    )


def register_from_threats(
    ws: Workspace,
    manifest: SystemManifest,
    findings: Iterable[Any],
    *,
    owner: str | None = None,
    actor: str = "cli",
) -> list[RiskRecord]:
    """Register one risk per open threat finding; existing risks (same stable id) are kept."""
    from bastion.risk._threats import _get, scenario_id

    out = []
    for f in findings:
        if bool(_get(f, "mitigated")) or bool(_get(f, "suppressed")):
            continue
        rule, element = str(_get(f, "rule_id")), str(_get(f, "element_id"))
        rid = _stable_id(manifest.system.id, rule, element)
        try:
            out.append(get_risk(ws, rid))
            continue
        except NotFoundError:
            pass
        out.append(
            add_risk(
                ws,
                system_id=manifest.system.id,
                rule_id=rule,
                element_id=element,
                title=str(_get(f, "title"))[:300],
                owner=owner or manifest.system.owner,
                threats=[str(_get(f, "id"))],
                scenarios=[scenario_id(rule, element)],
                actor=actor,
            )
        )
    return out
